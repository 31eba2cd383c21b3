"""Face parsers: turn an aligned crop into a 19-class label map in our order (:mod:`engine.labels`).

Backends:

- ``bundle`` (default): the bundle's own ``parser`` network (``engine.models.parser_net.FaceParser``),
  wrapped in :class:`NetworkParser`. Input [-1, 1] RGB, output 19 logits in our order.
- ``bisenet`` / ``parsenet``: facexlib's pretrained parsers, when ``facexlib`` is installed and their
  weights (``parsing_bisenet.pth`` / ``parsing_parsenet.pth`` from facexlib's GitHub releases) are on
  disk. Nothing is downloaded. Both run at 512² as facexlib does.

  * BiSeNet takes ImageNet-normalised RGB and predicts facexlib's face-parsing order
    (``labels.BISENET_NAMES``: skin, l_brow, r_brow, l_eye, ...); channels are remapped with
    ``labels.BISENET_TO_OURS`` (the same table as ``labels.remap_bisenet``).
  * ParseNet takes RGB in [-1, 1] and predicts the CelebAMask-HQ order (skin, nose, eye_g, l_eye, ...),
    which is already ours: facexlib's own ParseNet demo (inference_parsing_parsenet.py) lists exactly
    this order and colours. No remap.

Test-time flip averaging runs the image and its mirror in one batch, mirrors the second prediction back
and swaps left/right classes (l_eye<->r_eye, l_brow<->r_brow, l_ear<->r_ear), then averages the
probabilities.

Refinement (``refine=``, :mod:`engine.refine`): the averaged probabilities are guided-filtered against the
crop so label edges sit on image edges, then the hair is re-traced with GrabCut seeded from the parse.
:func:`make_parser` turns it on (parsers built for photos); a bare :class:`NetworkParser` has it off.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from engine import labels
from engine.refine import RefineOptions, refine_parse

__all__ = [
    "FLIP_PERMUTATION",
    "FacexlibParser",
    "NetworkParser",
    "Parser",
    "ParserUnavailable",
    "RefineOptions",
    "default_weights_dir",
    "make_parser",
    "mirror_averaged",
]

PARSER_KINDS = ("bundle", "bisenet", "parsenet")
FACEXLIB_FILES = {"bisenet": "parsing_bisenet.pth", "parsenet": "parsing_parsenet.pth"}
FACEXLIB_RELEASES = "https://github.com/xinntao/facexlib/releases"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: The bundle parser also reads the crop enlarged this much about its centre and averages (each view
#: where it saw): small parts (eyes, brows, earrings) get more pixels. On the 107 held-out real faces
#: mIoU 0.610 -> 0.617, on held-out synthetic faces at 256 px 0.760 -> 0.767 (both mirror-averaged).
BUNDLE_ZOOMS = (1.0, 1.12)


class ParserUnavailable(RuntimeError):
    """The parser cannot be built here; the message says what to install or where to put which file."""


@runtime_checkable
class Parser(Protocol):
    def parse(self, crop_rgb: np.ndarray) -> np.ndarray:
        """uint8 H×W×3 RGB crop -> uint8 H×W class ids in our order."""
        ...


#: Class id -> its id in the mirror image (``engine.labels.MIRROR``: l_eye <-> r_eye, l_brow <-> r_brow,
#: l_ear <-> r_ear; l_lip is the lower lip and has no partner).
FLIP_PERMUTATION: np.ndarray = labels.MIRROR.astype(np.int64)


def mirror_averaged(logits_fn, x: torch.Tensor) -> torch.Tensor:
    """[B, 19, H, W] class probabilities of the batch ``x`` and of its mirror image, averaged.

    ``logits_fn`` maps [N, 3, H, W] to [N, 19, H', W'] logits in our class order; both passes run in one
    batch, and the mirrored one is flipped back with left and right classes swapped.
    """
    n = x.shape[0]
    p = logits_fn(torch.cat([x, x.flip(-1)])).float().softmax(1)
    swap = torch.as_tensor(FLIP_PERMUTATION, dtype=torch.long, device=p.device)
    return 0.5 * (p[:n] + p[n:].flip(-1).index_select(1, swap))


def _zoom(x: torch.Tensor, z: float) -> torch.Tensor:
    """``x`` [N, C, H, W] enlarged ``z``× about its centre (the border repeated where it runs out)."""
    theta = torch.tensor([[1.0 / z, 0.0, 0.0], [0.0, 1.0 / z, 0.0]], dtype=x.dtype, device=x.device)
    grid = F.affine_grid(theta.expand(x.shape[0], 2, 3), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def _unzoom(p: torch.Tensor, z: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Probabilities ``p`` [N, 19, H, W] of a ``z``× enlarged view brought back to the original frame,
    and the weight [N, 1, H, W] of where that view saw (1 inside, 0 outside)."""
    theta = torch.tensor([[z, 0.0, 0.0], [0.0, z, 0.0]], dtype=p.dtype, device=p.device)
    grid = F.affine_grid(theta.expand(p.shape[0], 2, 3), list(p.shape), align_corners=False)
    back = F.grid_sample(p, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    seen = (grid.abs() <= 1.0).all(-1, keepdim=True).permute(0, 3, 1, 2).to(p.dtype)
    return back, seen


def zoom_averaged(logits_fn, x: torch.Tensor, zooms=(1.0,), flip: bool = True) -> torch.Tensor:
    """[B, 19, H, W] class probabilities of ``x`` averaged over enlarged views (``zooms``, 1 = as it is)
    and, with ``flip``, their mirror images (:func:`mirror_averaged`); each view counts where it saw.
    All views run in one batch."""
    n = x.shape[0]
    views = torch.cat([x if z == 1.0 else _zoom(x, z) for z in zooms])
    if flip:
        p = mirror_averaged(logits_fn, views)
    else:
        p = logits_fn(views).float().softmax(1)
    total = torch.zeros_like(p[:n])
    weight = torch.zeros_like(p[:n, :1])
    for i, z in enumerate(zooms):
        pi = p[i * n : (i + 1) * n]
        back, seen = (pi, torch.ones_like(pi[:, :1])) if z == 1.0 else _unzoom(pi, z)
        total += back * seen
        weight += seen
    return total / weight.clamp_min(1e-6)


def _check_crop(crop_rgb) -> np.ndarray:
    a = np.asarray(crop_rgb)
    if a.ndim != 3 or a.shape[2] != 3 or a.dtype != np.uint8 or min(a.shape[:2]) < 8:
        raise ValueError(f"parser input must be an H×W×3 uint8 RGB crop, got {a.dtype} {a.shape}")
    return a


class NetworkParser:
    """Wrap a torch module mapping images [B,3,H,W] to 19-class logits [B,19,H',W'].

    ``mean``/``std`` normalise [0,1] RGB (the default 0.5/0.5 gives [-1, 1]); ``input_size`` resizes the
    crop for the network (bilinear) and the probabilities back (area/bilinear); ``channel_order[c]`` is
    the network channel holding our class ``c`` (None = already our order); a tuple/list output is
    indexed with ``output_index``. ``refine``: True (default :class:`RefineOptions`), a
    :class:`RefineOptions`, or False/None for the plain argmax. ``zooms``: views averaged
    (:func:`zoom_averaged`), each with its mirror image when ``flip_average``.
    """

    def __init__(
        self,
        net: nn.Module,
        device=None,
        flip_average: bool = True,
        *,
        input_size: int | None = None,
        mean=(0.5, 0.5, 0.5),
        std=(0.5, 0.5, 0.5),
        channel_order=None,
        output_index: int = 0,
        name: str = "network",
        refine: bool | RefineOptions | None = False,
        zooms=(1.0,),
    ):
        self.device = torch.device(device) if device is not None else _module_device(net)
        self.net = net.to(self.device).eval()
        self.flip_average = bool(flip_average)
        self.input_size = input_size
        self.mean = torch.tensor(mean, dtype=torch.float32, device=self.device).view(1, 3, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32, device=self.device).view(1, 3, 1, 1)
        self.channel_order = (
            None if channel_order is None else torch.as_tensor(np.asarray(channel_order), dtype=torch.long)
        )
        self.output_index = output_index
        self.name = name
        self.refine = refine
        self.zooms = tuple(float(z) for z in zooms)
        if not self.zooms or any(not 0.5 <= z <= 2.0 for z in self.zooms):
            raise ValueError(f"zooms must be factors in 0.5..2, got {zooms!r}")

    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        out = self.net(x)
        if isinstance(out, (tuple, list)):
            out = out[self.output_index]
        if out.ndim != 4 or out.shape[1] != labels.NUM_CLASSES:
            raise RuntimeError(
                f"{self.name} parser returned shape {tuple(out.shape)}; expected [B, {labels.NUM_CLASSES}, H, W]"
            )
        if self.channel_order is not None:
            out = out.index_select(1, self.channel_order.to(out.device))
        return out.float()

    @torch.inference_mode()
    def probabilities(self, crop_rgb: np.ndarray) -> torch.Tensor:
        """[19, H, W] class probabilities (our order) at the crop's resolution."""
        a = _check_crop(crop_rgb)
        h, w = a.shape[:2]
        x = torch.from_numpy(np.ascontiguousarray(a)).to(self.device).permute(2, 0, 1)[None].float() / 255.0
        if self.input_size is not None and (h, w) != (self.input_size, self.input_size):
            x = F.interpolate(
                x, size=(self.input_size, self.input_size), mode="bilinear", align_corners=False
            )
        x = (x - self.mean) / self.std
        p = zoom_averaged(self._logits, x, self.zooms, self.flip_average)[0]
        if p.shape[-2:] != (h, w):
            mode = "area" if p.shape[-2] > h else "bilinear"
            kw = {} if mode == "area" else {"align_corners": False}
            p = F.interpolate(p[None], size=(h, w), mode=mode, **kw)[0]
        return p

    @property
    def refine(self) -> RefineOptions | None:
        return self._refine

    @refine.setter
    def refine(self, value) -> None:
        if value is True:
            value = RefineOptions()
        elif value is False or value is None:
            value = None
        elif not isinstance(value, RefineOptions):
            raise TypeError(f"refine must be a bool or RefineOptions, got {type(value).__name__}")
        self._refine = value

    def parse(self, crop_rgb: np.ndarray) -> np.ndarray:
        p = self.probabilities(crop_rgb)
        if self._refine is None:
            return p.argmax(0).to(torch.uint8).cpu().numpy()
        return refine_parse(np.asarray(crop_rgb), p.cpu().numpy(), self._refine)


def _module_device(net: nn.Module) -> torch.device:
    for t in net.parameters():
        return t.device
    return torch.device("cpu")


def default_weights_dir() -> Path:
    """Where facexlib weights are looked for when no path is given: $FACEPAINT_WEIGHTS or
    ~/.cache/facepaint/weights."""
    return Path(os.environ.get("FACEPAINT_WEIGHTS") or "~/.cache/facepaint/weights").expanduser()


def _facexlib_class(kind: str):
    module, cls = {
        "bisenet": ("facexlib.parsing.bisenet", "BiSeNet"),
        "parsenet": ("facexlib.parsing.parsenet", "ParseNet"),
    }[kind]
    try:
        return getattr(importlib.import_module(module), cls)
    except ModuleNotFoundError as e:
        if e.name and e.name.split(".")[0] == "facexlib":
            raise ParserUnavailable(
                f"the {kind} parser needs facexlib, which is not installed: pip install 'facepaint[facexlib]' "
                "(or pip install facexlib)"
            ) from None
        raise ParserUnavailable(f"facexlib is installed but cannot be imported ({e}); reinstall it") from None
    except (ImportError, AttributeError) as e:
        raise ParserUnavailable(f"facexlib is installed but its {cls} cannot be imported ({e})") from None


class FacexlibParser(NetworkParser):
    """facexlib's BiSeNet or ParseNet with local weights, giving labels in our order."""

    def __init__(
        self, kind: str = "bisenet", weights=None, device=None, flip_average: bool = True, refine=False
    ):
        kind = str(kind).lower()
        if kind not in FACEXLIB_FILES:
            raise ValueError(f"facexlib parser kind must be 'bisenet' or 'parsenet', got {kind!r}")
        cls = _facexlib_class(kind)
        fname = FACEXLIB_FILES[kind]
        path = Path(weights).expanduser() if weights is not None else default_weights_dir() / fname
        if path.is_dir():
            path = path / fname
        if not path.is_file():
            raise ParserUnavailable(
                f"the facexlib {kind} weights were not found at {path}. Download {fname} from "
                f"{FACEXLIB_RELEASES} and put it at {path} (or pass its path); nothing is downloaded "
                "automatically"
            )
        net = cls(num_class=19) if kind == "bisenet" else cls(in_size=512, out_size=512, parsing_ch=19)
        try:
            state = torch.load(str(path), map_location="cpu", weights_only=True)
            if isinstance(state, dict) and isinstance(state.get("params"), dict):
                state = state["params"]
            state = {(k[7:] if k.startswith("module.") else k): v for k, v in state.items()}
            net.load_state_dict(state, strict=True)
        except Exception as e:  # unpickling refused, wrong file, wrong architecture
            raise ParserUnavailable(f"cannot load {kind} weights from {path}: {e}") from None
        if kind == "bisenet":
            order = np.argsort(labels.BISENET_TO_OURS)  # our class c lives in BiSeNet channel order[c]
            super().__init__(
                net, device, flip_average, input_size=512, mean=IMAGENET_MEAN, std=IMAGENET_STD,
                channel_order=order, name="facexlib BiSeNet", refine=refine,
            )  # fmt: skip
        else:
            super().__init__(
                net, device, flip_average, input_size=512, name="facexlib ParseNet", refine=refine
            )
        self.kind = kind
        self.weights = path


def make_parser(kind: str = "bundle", bundle=None, weights=None, device=None, refine=True) -> Parser:
    """Build a parser: ``bundle`` (the bundle's own network), ``bisenet`` or ``parsenet`` (facexlib).

    ``refine`` (default on: these parsers read photos) is passed to :class:`NetworkParser`."""
    kind = str(kind).lower()
    if kind not in PARSER_KINDS:
        raise ValueError(f"unknown parser {kind!r}; choose one of {', '.join(PARSER_KINDS)}")
    if kind != "bundle":
        return FacexlibParser(kind, weights=weights, device=device, refine=refine)
    if bundle is None:
        raise ParserUnavailable("no model bundle is loaded, so the bundle's parser is unavailable")
    try:
        net = bundle.get("parser")
    except Exception as e:  # BundleError naming the missing network
        raise ParserUnavailable(str(e)) from None
    if device is None:
        device = getattr(bundle, "device", None)
    return NetworkParser(net, device, flip_average=True, name="bundle", refine=refine, zooms=BUNDLE_ZOOMS)
