"""The bundle's networks as one typed object, and the tensor conversions every network call shares.

``Networks`` replaces look-ups by name (``bundle.get("mrsa")``) inside the engine: each network is a
field of its own type, the optional ones may be None, and :meth:`Networks.need` turns a missing one into
an ``EngineError`` that says which bundle lacks it and what it is needed for. Training builds the same
object from its own modules to call the shared harmoniser (:mod:`engine.harmonise`).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import torch
from torch import nn

from engine.bundle import PURPOSE, Bundle
from engine.labels import NUM_CLASSES
from engine.models.encoder import StyleEncoder
from engine.models.flow import StyleFlow
from engine.models.generator import Generator
from engine.models.harmony import HarmonyScorer
from engine.models.layers import one_hot
from engine.models.mapping import RSMBank
from engine.models.mrsa import MRSA
from engine.models.msca import MSCA
from engine.prepared import EngineError

__all__ = ["Networks", "image_tensor", "mask_tensor", "to_uint8"]


@dataclass(frozen=True)
class Networks:
    """The networks an engine (or the evaluation) runs. Only what a caller uses needs to be set."""

    encoder: StyleEncoder | None = None
    generator: Generator | None = None
    parser: nn.Module | None = None
    mrsa: MRSA | None = None
    msca: MSCA | None = None
    generator_msca: Generator | None = None
    rsm: RSMBank | None = None
    flow: StyleFlow | None = None
    harmony: HarmonyScorer | None = None
    source: str = "the bundle"  # named in the message of a missing network

    @classmethod
    def from_bundle(cls, bundle: Bundle) -> Networks:
        """The bundle's networks; the encoder and the generator are required (every edit needs them)."""
        names = {f.name for f in fields(cls)} - {"source"}
        nets = cls(source=f"bundle {bundle.path}", **{n: bundle.nets.get(n) for n in names})
        nets.need("encoder"), nets.need("generator")
        return nets

    def need(self, name: str) -> nn.Module:
        net = getattr(self, name, None)
        if net is None:
            why = PURPOSE.get(name, name)
            raise EngineError(f"{self.source} has no '{name}' network, which is needed for {why}")
        return net

    def has(self, name: str) -> bool:
        return getattr(self, name, None) is not None


def image_tensor(rgb: np.ndarray, device: torch.device) -> torch.Tensor:
    """uint8 H×W×3 -> float [1, 3, H, W] in [-1, 1] on ``device``."""
    t = torch.from_numpy(np.ascontiguousarray(rgb)).to(device)
    return t.permute(2, 0, 1).unsqueeze(0).float().div_(127.5).sub_(1.0)


def mask_tensor(mask: np.ndarray, device: torch.device) -> torch.Tensor:
    """Label map H×W -> one-hot [1, 19, H, W] on ``device``."""
    m = torch.from_numpy(np.array(mask, np.int64)).to(device).unsqueeze(0)
    return one_hot(m, NUM_CLASSES)


def to_uint8(img: torch.Tensor) -> np.ndarray:
    """The first image of a [-1, 1] batch as uint8 H×W×3 on the CPU."""
    x = img[0].float().clamp(-1, 1).add(1).mul(127.5).round().byte()
    return x.permute(1, 2, 0).contiguous().cpu().numpy()
