"""Model bundles: a folder of safetensors weights plus JSON configs. Loading never unpickles.

Layout::

    bundle.json            format version, resolution, label schema, networks, training summary
    <name>.json            {"type": "StyleEncoder", "config": {...constructor arguments...}}
    <name>.safetensors     the network's state dict (tensors only)
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from engine import labels
from engine.atomicio import atomic_write

#: 2: left and right are the subject's (engine.labels.LR_PAIRS). Format-1 bundles, trained with ``l_*``
#: on the image's left, are converted when loaded (engine.sides).
FORMAT_VERSION = 2

#: Network type name -> (module, class, config class). The only classes a bundle may instantiate.
NETWORK_TYPES: dict[str, tuple[str, str, str]] = {
    "StyleEncoder": ("engine.models.encoder", "StyleEncoder", "EncoderConfig"),
    "Generator": ("engine.models.generator", "Generator", "GeneratorConfig"),
    "MRSA": ("engine.models.mrsa", "MRSA", "MRSAConfig"),
    "MSCA": ("engine.models.msca", "MSCA", "MSCAConfig"),
    "RSMBank": ("engine.models.mapping", "RSMBank", "RSMConfig"),
    "StyleFlow": ("engine.models.flow", "StyleFlow", "FlowConfig"),
    "FaceParser": ("engine.models.parser_net", "FaceParser", "ParserConfig"),
    "HarmonyScorer": ("engine.models.harmony", "HarmonyScorer", "HarmonyConfig"),
}

#: What each network is for, so that a missing one can be explained to the user.
PURPOSE: dict[str, str] = {
    "encoder": "encoding region styles (every edit)",
    "generator": "regenerating the face (every edit)",
    "mrsa": "the MRSA harmoniser",
    "msca": "the MSCA harmoniser",
    "generator_msca": "the MSCA harmoniser's generator",
    "rsm": "random region styles (RSM)",
    "flow": "z-space fine-tuning (CNF)",
    "parser": "parsing photos into regions",
    "harmony": "the harmony score",
}

PICKLE_SUFFIXES = (".pth", ".pt", ".ckpt", ".pkl", ".pickle", ".bin")


class BundleError(Exception):
    """Anything wrong with a bundle. The message names the file and what to do."""


@dataclass
class DeviceChoice:
    device: torch.device
    reason: str
    threads: int

    @property
    def is_cuda(self) -> bool:
        return self.device.type == "cuda"


def select_device(prefer: str | None = None) -> DeviceChoice:
    """CUDA when available (or asked for), CPU otherwise with torch threads = cores."""
    prefer = (prefer or os.environ.get("FACEPAINT_DEVICE") or "auto").lower()
    cores = os.cpu_count() or 1
    if prefer not in ("auto", "cpu", "cuda"):
        raise BundleError(f"unknown device {prefer!r}; use auto, cpu or cuda")
    if prefer in ("auto", "cuda") and torch.cuda.is_available():
        name = torch.cuda.get_device_name(0)
        return DeviceChoice(torch.device("cuda", 0), f"CUDA is available ({name})", torch.get_num_threads())
    if prefer == "cuda":
        reason = "CUDA was asked for but is not available; using the CPU"
    elif prefer == "cpu":
        reason = "the CPU was asked for"
    else:
        reason = "no CUDA device found"
    torch.set_num_threads(cores)
    return DeviceChoice(torch.device("cpu"), f"{reason}; {cores} CPU threads", cores)


def _config_to_json(cfg: Any) -> dict:
    if not dataclasses.is_dataclass(cfg):
        raise BundleError(f"network config {cfg!r} is not a dataclass")
    return json.loads(json.dumps(dataclasses.asdict(cfg)))


def network_type(net: nn.Module) -> str:
    name = type(net).__name__
    if name not in NETWORK_TYPES:
        raise BundleError(f"{name} is not a bundle network type ({', '.join(NETWORK_TYPES)})")
    return name


def save_bundle(
    path: str | os.PathLike,
    nets: dict[str, nn.Module],
    *,
    resolution: int,
    extra_meta: dict | None = None,
) -> Path:
    """Write a bundle folder. Tensors go to safetensors, constructor arguments to JSON."""
    from safetensors.torch import save

    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    entries = {}
    for name, net in nets.items():
        if not name.isidentifier():
            raise BundleError(f"network name {name!r} must be an identifier")
        tname = network_type(net)
        cfg = _config_to_json(net.cfg)
        state = {k: v.detach().to("cpu").contiguous() for k, v in net.state_dict().items()}
        atomic_write(out / f"{name}.safetensors", save(state), "bundle weights", BundleError)
        atomic_write(
            out / f"{name}.json", json.dumps({"type": tname, "config": cfg}, indent=2), "bundle config", BundleError
        )
        entries[name] = {"type": tname, "config": f"{name}.json", "weights": f"{name}.safetensors"}
    meta = {
        "format": "facepaint-bundle",
        "format_version": FORMAT_VERSION,
        "resolution": int(resolution),
        "labels": {"schema": "celebamask-hq-19", "names": list(labels.NAMES), "sides": "subject"},
        "networks": entries,
    }
    if extra_meta:
        meta.update({k: v for k, v in extra_meta.items() if k not in meta})
    atomic_write(out / "bundle.json", json.dumps(meta, indent=2), "bundle manifest", BundleError)
    return out


def _read_json(path: Path) -> dict:
    if not path.is_file():
        raise BundleError(f"missing file {path}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise BundleError(f"{path} is not valid JSON: {e}") from None
    if not isinstance(data, dict):
        raise BundleError(f"{path} must hold a JSON object")
    return data


def _build_network(folder: Path, name: str) -> nn.Module:
    cfg_path = folder / f"{name}.json"
    spec = _read_json(cfg_path)
    tname = spec.get("type")
    if tname not in NETWORK_TYPES:
        raise BundleError(f"{cfg_path}: unknown network type {tname!r}")
    if not isinstance(spec.get("config"), dict):
        raise BundleError(f"{cfg_path}: 'config' must be an object of constructor arguments")
    mod_name, cls_name, cfg_name = NETWORK_TYPES[tname]
    mod = importlib.import_module(mod_name)
    cfg_cls, net_cls = getattr(mod, cfg_name), getattr(mod, cls_name)
    known = {f.name for f in dataclasses.fields(cfg_cls)}
    unknown = set(spec["config"]) - known
    if unknown:
        raise BundleError(f"{cfg_path}: unknown config fields {sorted(unknown)} for {tname}")
    kwargs = dict(spec["config"])
    if tname == "RSMBank" and "groups" not in kwargs:  # saved before the groups were in the config
        kwargs["groups"] = labels.LEGACY_RSM_GROUPS
    try:
        cfg = cfg_cls(**kwargs)
        return net_cls(cfg)
    except (TypeError, ValueError) as e:
        raise BundleError(f"{cfg_path}: bad configuration for {tname}: {e}") from None


def _load_weights(net: nn.Module, path: Path) -> None:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    if not path.is_file():
        raise BundleError(f"missing weights file {path}")
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise BundleError(f"{path} is not a readable safetensors file (truncated or corrupt?): {e}") from None
    own = net.state_dict()
    missing = sorted(set(own) - set(state))
    extra = sorted(set(state) - set(own))
    if missing or extra:
        raise BundleError(
            f"{path} does not match its config: missing tensors {missing[:5]}, unexpected {extra[:5]}"
        )
    for k, v in state.items():
        if own[k].shape != v.shape:
            raise BundleError(
                f"{path}: tensor {k} has shape {tuple(v.shape)}, expected {tuple(own[k].shape)}"
            )
    net.load_state_dict(state, strict=True)


@dataclass
class Bundle:
    path: Path
    meta: dict
    nets: dict[str, nn.Module]
    device: torch.device
    device_reason: str = ""
    resolution: int = 256
    autocast: bool = False
    _missing: dict[str, str] = field(default_factory=dict)

    def has(self, name: str) -> bool:
        return name in self.nets

    def get(self, name: str) -> nn.Module:
        if name not in self.nets:
            why = PURPOSE.get(name, name)
            raise BundleError(f"bundle {self.path} has no '{name}' network, which is needed for {why}")
        return self.nets[name]

    def describe(self) -> dict:
        return {
            "path": str(self.path),
            "resolution": self.resolution,
            "networks": {
                n: {"type": type(m).__name__, "params": sum(p.numel() for p in m.parameters())}
                for n, m in self.nets.items()
            },
            "trained": self.meta.get("training", {}),
        }


def load_bundle(path: str | os.PathLike, device: str | torch.device | None = None) -> Bundle:
    """Load every network listed in bundle.json, weights-only, in eval mode on the chosen device."""
    folder = Path(path)
    if folder.is_file():
        if folder.suffix.lower() in PICKLE_SUFFIXES:
            raise BundleError(
                f"{folder} looks like a pickled PyTorch checkpoint; FacePaint never loads pickles. "
                "Convert it to a bundle folder (safetensors + JSON) with our training tools."
            )
        raise BundleError(f"{folder} is a file; a bundle is a folder holding bundle.json")
    if not folder.is_dir():
        raise BundleError(f"bundle folder {folder} does not exist")
    pickles = sorted(p.name for p in folder.iterdir() if p.suffix.lower() in PICKLE_SUFFIXES)
    if pickles:
        raise BundleError(
            f"{folder} holds pickle files ({', '.join(pickles)}); FacePaint never loads pickles. "
            "Remove them and use .safetensors weights."
        )
    meta = _read_json(folder / "bundle.json")
    if meta.get("format") != "facepaint-bundle":
        raise BundleError(f"{folder / 'bundle.json'} is not a FacePaint bundle description")
    version = meta.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION or version < 1:
        raise BundleError(
            f"{folder / 'bundle.json'}: bundle format version {version!r} is not supported "
            f"(this FacePaint reads version {FORMAT_VERSION})"
        )
    names = meta.get("labels", {}).get("names")
    if names is not None and list(names) != list(labels.NAMES):
        raise BundleError(f"{folder / 'bundle.json'}: label schema differs from FacePaint's 19 classes")
    resolution = meta.get("resolution")
    if not isinstance(resolution, int) or resolution < 32 or resolution % 32:
        raise BundleError(
            f"{folder / 'bundle.json'}: resolution must be a multiple of 32, got {resolution!r}"
        )
    networks = meta.get("networks")
    if not isinstance(networks, dict) or not networks:
        raise BundleError(f"{folder / 'bundle.json'} lists no networks")
    if isinstance(device, torch.device):
        choice = DeviceChoice(device, "chosen by the caller", torch.get_num_threads())
    else:
        choice = select_device(device)
    nets: dict[str, nn.Module] = {}
    for name in networks:
        if not isinstance(name, str) or not name.isidentifier():
            raise BundleError(f"{folder / 'bundle.json'}: bad network name {name!r}")
        net = _build_network(folder, name)
        _load_weights(net, folder / f"{name}.safetensors")
        if version < 2:
            _swap_sides(net, folder / f"{name}.json")
        net.eval().requires_grad_(False)
        nets[name] = net.to(choice.device)
    return Bundle(
        path=folder,
        meta=meta,
        nets=nets,
        device=choice.device,
        device_reason=choice.reason,
        resolution=resolution,
        autocast=choice.is_cuda,
    )


def _swap_sides(net: nn.Module, where: Path) -> None:
    from engine.sides import swap_sides

    try:
        swap_sides(net)
    except TypeError as e:
        raise BundleError(f"{where}: this format-1 network cannot be converted to today's left/right: {e}") from None


def default_bundle_path() -> Path:
    """resources/models/default beside the installed packages (or FACEPAINT_BUNDLE)."""
    env = os.environ.get("FACEPAINT_BUNDLE")
    if env:
        return Path(env)
    return resources_dir() / "models" / "default"


def resources_dir() -> Path:
    return Path(__file__).resolve().parent.parent / "resources"
