"""Renaming left and right inside trained networks (bundle format 1 -> 2).

Bundles of format 1 were trained on a corpus that drew ``l_*`` on the image's left; format 2 follows
CelebAMask-HQ (``engine.labels.LR_PAIRS``: ``l_*`` is the subject's left, on the image's right). The two
differ only in the *names* of the classes 4-9, so a format-1 network becomes a format-2 one by moving
the parameters of class c to class ``MIRROR[c]`` along every class axis. The result is exact: the
converted network on a mask with left and right renamed gives what the old one gave on the old mask.

Only the per-class tensors move; everything that does not see class identities (the encoder pools
under whatever mask it is given, the harmony scorer sees an image and a region) stays as it is.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from engine.labels import MIRROR, NUM_CLASSES

__all__ = ["swap_sides"]

_PERM = torch.as_tensor(MIRROR, dtype=torch.long)


def _rows(t: torch.Tensor) -> None:  # class axis 0
    t.copy_(t.index_select(0, _PERM.to(t.device)))


def _in_channels(t: torch.Tensor) -> None:  # class axis 1: the first 19 input channels (the mask)
    t[:, :NUM_CLASSES] = t[:, :NUM_CLASSES].index_select(1, _PERM.to(t.device))


def _by_name(net: nn.Module, rules: dict[str, callable]) -> int:
    """Apply ``rules`` (name suffix -> permutation) to the matching tensors of ``net``; count them."""
    n = 0
    state = dict(net.named_parameters()) | dict(net.named_buffers())
    for name, t in state.items():
        for suffix, fn in rules.items():
            if name == suffix or name.endswith("." + suffix) or _matches(name, suffix):
                fn(t.data)
                n += 1
                break
    return n


def _matches(name: str, pattern: str) -> bool:
    """``blocks.*.mask_conv.weight``-style patterns (``*`` = one name part)."""
    a, b = name.split("."), pattern.split(".")
    return len(a) == len(b) and all(q in ("*", p) for p, q in zip(a, b, strict=True))


_RULES: dict[str, dict[str, callable]] = {
    "FaceParser": {"head.weight": _rows, "head.bias": _rows, "refine.1.weight": _rows, "refine.1.bias": _rows},
    "Generator": {"fc.weight": _in_channels, "blocks.*.mask_conv.weight": _in_channels},
    "MRSA": {"q_embed": _rows, "k_embed": _rows, "ffn_class": _rows},
    "MSCA": {"labels.convs.*.weight": _in_channels},  # each level sees the pooled mask first
    "StyleFlow": {"mean": _rows, "std": _rows, "func.embed.weight": _rows},
    "StyleEncoder": {},
    "HarmonyScorer": {},
}


@torch.no_grad()
def swap_sides(net: nn.Module) -> nn.Module:
    """Rename left and right classes in ``net``'s per-class parameters, in place; returns ``net``.

    Raises ``TypeError`` for a network type whose class axes are not known here."""
    kind = type(net).__name__
    if kind == "RSMBank":  # one mapping net per group: rename the classes each group's rows stand for
        groups = {g: tuple(int(MIRROR[c]) for c in cs) for g, cs in net.cfg.groups.items()}
        net.cfg = dataclasses.replace(net.cfg, groups=groups)
        return net
    if kind not in _RULES:
        raise TypeError(f"cannot rename left and right in a {kind} network")
    want = {"FaceParser": 2 + 2 * int(getattr(net.cfg, "refine_channels", 0) > 0)}.get(kind)
    n = _by_name(net, _RULES[kind])
    if want is not None and n != want:
        raise TypeError(f"{kind}: expected {want} per-class tensors, found {n}")
    return net
