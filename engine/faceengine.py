"""FaceEngine: owns the bundle's networks and the per-image caches, and renders edit states.

It is Qt-free and thread-confined: the editor uses one instance from its single worker thread, the CLI
and tests use it directly. Per image it aligns, parses and encodes once; per edit it resolves the
state's overrides to style codes, harmonises them, regenerates and composites.

Composite modes (``EditState.composite``):

- ``changed`` (default): detail-preserving (:mod:`engine.detail`). Where only a style changed, the photo
  is moved by the low-frequency difference between the edited and the unedited render (same mask, same
  noise seed), keeping its own texture; where the mask changed, colour- and grain-matched generated
  pixels are blended in with a multi-band blend. The unedited render is cached per (image, mask,
  harmoniser variant), so dragging a slider pays for one generator pass, not two. Export carries the
  change into the full-size photo as a Lab delta (:func:`engine.composite.paste_detail`).
- ``raw``: the changed regions take the generated pixels with a plain feathered blend.
- ``whole``: the whole face is regenerated.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from pathlib import Path

import cv2
import numpy as np
import torch

from engine import composite, labels
from engine.bundle import Bundle, BundleError
from engine.face import Alignment, detect_and_align, manual_alignment, whole_image_alignment
from engine.imageio import ImageError, LoadedImage, load_image
from engine.models.layers import one_hot
from engine.prepared import EngineError, PreparedImage
from engine.rendering import FEATHER_PX, CompositeMixin, _is_noop
from engine.state import PASTED_KINDS, EditState, FreeRegion, Override, StateError


def image_id(rgb: np.ndarray, tag: str = "") -> str:
    h = hashlib.sha1(np.ascontiguousarray(rgb).tobytes())
    h.update(f"{rgb.shape}{tag}".encode())
    return h.hexdigest()[:16]


def _as_loaded(photo) -> LoadedImage:
    if isinstance(photo, LoadedImage):
        return photo
    if isinstance(photo, (str, Path)):
        try:
            return load_image(photo)
        except ImageError as e:
            raise EngineError(str(e)) from None
    if isinstance(photo, np.ndarray):
        if photo.ndim != 3 or photo.shape[2] != 3 or photo.dtype != np.uint8:
            raise EngineError(f"an image array must be H×W×3 uint8, got {photo.dtype} {photo.shape}")
        if min(photo.shape[:2]) < 16:
            raise EngineError(f"image is {photo.shape[1]}×{photo.shape[0]}, too small to contain a face")
        return LoadedImage.from_array(np.ascontiguousarray(photo))
    raise EngineError(f"cannot open {type(photo).__name__} as a photo")


class FaceEngine(CompositeMixin):
    def __init__(self, bundle: Bundle, *, parser=None, detector: str = "auto", max_references: int = 48):
        self.bundle = bundle
        self.device = bundle.device
        self.resolution = bundle.resolution
        self.detector = detector
        try:
            self.encoder = bundle.get("encoder")
            self.generator = bundle.get("generator")
        except BundleError as e:
            raise EngineError(str(e)) from None
        self._parser = parser
        self._refs: OrderedDict[str, PreparedImage] = OrderedDict()
        self.max_references = max_references
        self._msca_cache: OrderedDict = OrderedDict()

    # --- device / info ------------------------------------------------------------------------
    @property
    def device_label(self) -> str:
        if self.device.type == "cuda":
            return f"CUDA ({torch.cuda.get_device_name(self.device)})"
        return f"CPU ({torch.get_num_threads()} threads)"

    @property
    def parser(self):
        if self._parser is None:
            from engine.parsing import ParserUnavailable, make_parser

            try:
                self._parser = make_parser("bundle", bundle=self.bundle, device=self.device)
            except (ParserUnavailable, BundleError) as e:
                raise EngineError(str(e)) from None
        return self._parser

    # --- tensors ------------------------------------------------------------------------------
    def _image_tensor(self, rgb: np.ndarray) -> torch.Tensor:
        t = torch.from_numpy(np.ascontiguousarray(rgb)).to(self.device)
        return t.permute(2, 0, 1).unsqueeze(0).float().div_(127.5).sub_(1.0)

    def _mask_tensor(self, mask: np.ndarray) -> torch.Tensor:
        m = torch.from_numpy(np.array(mask, np.int64)).to(self.device).unsqueeze(0)
        return one_hot(m, labels.NUM_CLASSES)

    @staticmethod
    def _to_uint8(img: torch.Tensor) -> np.ndarray:
        x = img[0].float().clamp(-1, 1).add(1).mul(127.5).round().byte()
        return x.permute(1, 2, 0).contiguous().cpu().numpy()

    @torch.inference_mode()
    def encode(self, crop: np.ndarray, mask: np.ndarray) -> torch.Tensor:
        return self.encoder(self._image_tensor(crop), self._mask_tensor(mask))[0].float()

    # --- open / references --------------------------------------------------------------------
    def prepare(
        self,
        photo,
        *,
        alignment: Alignment | None = None,
        parsed_mask: np.ndarray | None = None,
        align: bool = True,
        crop_box: tuple[float, float, float] | None = None,
    ) -> PreparedImage:
        """Load, detect and align, parse and encode one photo.

        ``crop_box`` = (centre x, centre y, side) in photo pixels places the crop by hand (for photos
        where no face is found, or to frame it differently)."""
        img = _as_loaded(photo)
        R = self.resolution
        if alignment is None and crop_box is not None:
            try:
                cx, cy, side = (float(v) for v in crop_box)
                alignment = manual_alignment(img.rgb, (cx, cy), side, R)
            except (TypeError, ValueError) as e:
                raise EngineError(f"bad crop box {crop_box!r}: {e}") from None
        if alignment is None:
            try:
                alignment = (
                    detect_and_align(img.rgb, size=R, detector=self.detector)
                    if align
                    else whole_image_alignment(img.rgb, R)
                )
            except (ValueError, RuntimeError) as e:
                raise EngineError(f"face detection failed: {e}") from None
        crop = alignment.crop
        if parsed_mask is None:
            parsed_mask = np.asarray(self.parser.parse(crop), np.uint8)
        if parsed_mask.shape != (R, R):
            raise EngineError(f"parsed mask is {parsed_mask.shape}, expected {(R, R)}")
        styles = self.encode(crop, parsed_mask)
        present = np.bincount(parsed_mask.ravel(), minlength=labels.NUM_CLASSES) > 0
        return PreparedImage(
            id=image_id(img.rgb, "" if align else "unaligned"),
            photo=img,
            alignment=alignment,
            crop=crop,
            parsed_mask=parsed_mask,
            styles=styles,
            present=present,
            aligned=align,
            source=str(img.path or ""),
        )

    def initial_state(self, prepared: PreparedImage, **settings) -> EditState:
        return EditState(mask=prepared.parsed_mask, **settings)

    def add_reference(self, photo, *, align: bool = True) -> str:
        """Prepare and encode a reference once; returns its id (a content hash)."""
        if isinstance(photo, PreparedImage):
            prep = photo
        else:
            prep = self.prepare(photo, align=align)
        if prep.photo.rgb.shape[:2] != prep.crop.shape[:2]:
            # A reference needs only its crop, mask and styles: keep its hash, drop the full photo.
            prep.sha256 = (
                prep.sha256 or hashlib.sha256(np.ascontiguousarray(prep.photo.rgb).tobytes()).hexdigest()
            )
            prep.photo = LoadedImage.from_array(prep.crop)
        self._refs[prep.id] = prep
        self._refs.move_to_end(prep.id)
        while len(self._refs) > self.max_references:
            self._refs.popitem(last=False)
        return prep.id

    def reference(self, ref_id: str) -> PreparedImage:
        try:
            return self._refs[ref_id]
        except KeyError:
            raise EngineError(f"reference {ref_id} is not loaded; add it to the gallery first") from None

    def reference_crop(self, ref_id: str) -> np.ndarray:
        return self.reference(ref_id).crop

    def has_reference(self, ref_id: str) -> bool:
        return ref_id in self._refs

    # --- style resolution ---------------------------------------------------------------------
    def _fallback_style(self, region: int) -> torch.Tensor:
        flow = self.bundle.nets.get("flow")
        if flow is not None and hasattr(flow, "mean"):
            return flow.mean[region].to(self.device).float()
        return torch.zeros_like(self._dummy_style())

    def _dummy_style(self) -> torch.Tensor:
        return torch.zeros(self.encoder.cfg.style_dim, device=self.device)

    def own_style(self, prep: PreparedImage, region: int) -> torch.Tensor:
        if prep.present[region]:
            return prep.styles[region]
        return self._fallback_style(region)

    def _ref_style(self, prep: PreparedImage, region: int, ov: Override) -> torch.Tensor:
        ref = self.reference(ov.ref)
        src = region if ov.source_region is None else ov.source_region
        if not ref.present[src]:
            raise EngineError(
                f"the reference has no {labels.DISPLAY_NAMES[src].lower()} region to take a style from"
            )
        return ref.styles[src]

    @torch.inference_mode()
    def _color_style(self, prep: PreparedImage, state: EditState, region: int, rgb) -> torch.Tensor:
        key = ("color", region, tuple(rgb), hashlib.sha1(state.mask.tobytes()).hexdigest())
        if key in prep._cache:
            return prep._cache[key]
        where = state.mask == region
        if not where.any():
            where = prep.parsed_mask == region
        if not where.any():
            raise EngineError(f"there is no {labels.DISPLAY_NAMES[region].lower()} region to colour")
        recol = recolor(prep.crop, where, rgb)
        mask = np.where(where, region, 0).astype(np.uint8)
        style = self.encode(recol, mask)[region]
        if len(prep._cache) > 64:
            prep._cache.clear()
        prep._cache[key] = style
        return style

    def rsm_groups(self) -> dict[str, tuple[int, ...]]:
        """The regions one random draw (RSM) styles together, as this bundle's RSM was trained."""
        if self.bundle.has("rsm"):
            return dict(self.bundle.get("rsm").cfg.groups)
        return dict(labels.RSM_GROUPS)

    def _random_style(self, region: int, seed: int) -> torch.Tensor:
        try:
            rsm = self.bundle.get("rsm")
        except BundleError as e:
            raise EngineError(str(e)) from None
        with torch.inference_mode():
            return rsm.sample(region, seed).to(self.device).float()

    def tune_style(self, style: torch.Tensor, region: int, seed: int, eta: float) -> torch.Tensor:
        try:
            flow = self.bundle.get("flow")
        except BundleError as e:
            raise EngineError(str(e)) from None
        g = torch.Generator().manual_seed(int(seed))
        d = torch.randn(style.shape[-1], generator=g)
        d = (d / d.norm()).to(self.device)
        cls = torch.tensor([region], device=self.device)
        with torch.inference_mode():
            z = flow.to_z(style[None].float(), cls)
            return flow.from_z(z + eta * d, cls)[0]

    def resolve(self, prep: PreparedImage, state: EditState) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
        """-> (s_t own styles [19,S], s'_r composed styles [19,S], edited bool [19])."""
        s_t = torch.stack([self.own_style(prep, r) for r in range(labels.NUM_CLASSES)])
        s_r = s_t.clone()
        edited = np.zeros(labels.NUM_CLASSES, bool)
        for region, ov in state.overrides:
            if ov.kind == "own":
                style = s_t[region]
            elif ov.kind == "reference":
                style = self._ref_style(prep, region, ov)
            elif ov.kind == "interp":
                style = torch.lerp(s_t[region], self._ref_style(prep, region, ov), float(ov.t))
            elif ov.kind == "color":
                style = self._color_style(prep, state, region, ov.rgb)
            elif ov.kind == "random":
                style = self._random_style(region, ov.seed)
            else:  # pragma: no cover - Override validates kinds
                raise EngineError(f"unknown override {ov.kind}")
            if ov.tuned:
                style = self.tune_style(style, region, ov.tune_seed, ov.tune_eta)
            s_r[region] = style
            edited[region] = not _is_noop(ov)
        return s_t, s_r, edited

    # --- rendering ----------------------------------------------------------------------------
    def _msca_extra(self, exemplar: PreparedImage, mask: np.ndarray, msca) -> torch.Tensor:
        key = (exemplar.id, hashlib.sha1(mask.tobytes()).hexdigest())
        if key not in self._msca_cache:
            pyr = self.encoder.pyramid(self._image_tensor(exemplar.crop))
            self._msca_cache[key] = msca(
                self._mask_tensor(mask), pyr, self._mask_tensor(exemplar.parsed_mask)
            )
            while len(self._msca_cache) > 4:
                self._msca_cache.popitem(last=False)
        self._msca_cache.move_to_end(key)
        return self._msca_cache[key]

    def _msca_nets(self):
        try:
            return self.bundle.get("msca"), self.bundle.get("generator_msca")
        except BundleError as e:
            raise EngineError(str(e)) from None

    def _harmonised(self, prep: PreparedImage, state: EditState, s_t, s_r, edited):
        if state.harmonizer == "off" or not edited.any():
            return s_r, self.generator, None
        if state.harmonizer == "mrsa":
            # Only rows pasted from another face get MRSA's output: a colour edit is encoded from this
            # photo's recoloured pixels (already in its light), and untouched regions keep theirs.
            pasted = np.zeros(labels.NUM_CLASSES, bool)
            for region, ov in state.overrides:
                pasted[region] = ov.kind in PASTED_KINDS and bool(edited[region])
            if not pasted.any():
                return s_r, self.generator, None
            try:
                mrsa = self.bundle.get("mrsa")
            except BundleError as e:
                raise EngineError(str(e)) from None
            out = mrsa(s_t[None], s_r[None], alpha=float(state.alpha))[0]
            rows = torch.as_tensor(pasted, device=out.device)[:, None]
            return torch.where(rows, out, s_r), self.generator, None
        msca, gen = self._msca_nets()
        extra = self._msca_extra(self._exemplar(prep, state), state.mask, msca)
        return s_r, gen, extra * float(min(state.alpha, 1.0))

    def _exemplar(self, prep: PreparedImage, state: EditState) -> PreparedImage:
        counts: dict[str, int] = {}
        for _, o in state.overrides:
            if o.ref:
                counts[o.ref] = counts.get(o.ref, 0) + 1
        if not counts:
            return prep
        return self.reference(max(counts, key=counts.get))

    def _run(self, gen, mask_t, styles, extra) -> np.ndarray:
        with torch.autocast("cuda", enabled=self.bundle.autocast):
            return self._to_uint8(gen(mask_t, styles[None].float(), extra=extra, noise_seed=0))

    @torch.inference_mode()
    def generate(self, prep: PreparedImage, state: EditState) -> np.ndarray:
        """The raw generated crop for the state (no compositing)."""
        s_t, s_r, edited = self.resolve(prep, state)
        styles, gen, extra = self._harmonised(prep, state, s_t, s_r, edited)
        m = self._mask_tensor(state.mask)
        img = self._run(gen, m, styles, extra)
        for fr in state.free_regions:
            ref = self.reference(fr.ref)
            ref_styles = torch.stack(
                [ref.styles[r] if ref.present[r] else styles[r] for r in range(labels.NUM_CLASSES)]
            )
            alt = self._run(gen, m, ref_styles, extra)
            w = composite.feather(fr.mask(), FEATHER_PX)
            img = composite.blend_crop(img, alt, w)
        return img


def recolor(crop: np.ndarray, where: np.ndarray, rgb) -> np.ndarray:
    """Move the region's colour to ``rgb`` in Lab, keeping its lightness variation (its texture)."""
    lab = cv2.cvtColor(crop, cv2.COLOR_RGB2LAB).astype(np.float32)
    target = cv2.cvtColor(np.uint8([[rgb]]), cv2.COLOR_RGB2LAB).astype(np.float32)[0, 0]
    region = lab[where]
    region[:, 0] += target[0] - region[:, 0].mean()
    region[:, 1:] = target[1:]
    lab[where] = region
    return cv2.cvtColor(np.clip(lab, 0, 255).astype(np.uint8), cv2.COLOR_LAB2RGB)


__all__ = [
    "EngineError",
    "FaceEngine",
    "FreeRegion",
    "PreparedImage",
    "StateError",
    "image_id",
    "recolor",
]
