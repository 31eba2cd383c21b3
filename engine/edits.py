"""The edits, written once: pure functions from one ``EditState`` to the next.

The headless session (:mod:`engine.session`) and the editor (``editor.controller``) both call these, so an
edit means the same thing wherever it is made. Nothing here touches a network, a file or an undo stack:
a function checks its arguments, decides which regions change and returns the new state (or an
:class:`Edit` when the caller also needs to know which regions were skipped). Wrapping the change in an
undo step and wording the message is the caller's business.

Rules that live here and nowhere else:

- a transfer takes the style of every asked region the reference has, and reports the ones it lacks; it
  fails only when the reference has none of them;
- face swap+ takes every face-swap class the reference has, and needs the reference's face skin;
- a random style (RSM) is drawn for the asked region together with the present regions of its RSM group
  (skin with nose, ears and neck; both eyes; the lips and the mouth ...), so that they match;
- fine-tuning adds a z-space step to the region's override (its own style when it has none); a step of
  η = 0 on a region without any other override leaves no override at all;
- moving a blend towards the reference a region already blends to keeps its fine-tune.

Mask painting itself is :mod:`engine.maskops`; the editor's tools call it directly during a stroke (to
preview) and commit the resulting delta, the functions here wrap it for headless use.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np

from engine import labels, maskops
from engine.errors import EngineError
from engine.imageio import validate_mask
from engine.limits import MAX_COORD, number_arg, points_arg
from engine.state import EditState, FreeRegion, Override, StateError, check_region, parse_color

__all__ = [
    "Edit",
    "RefFacts",
    "brush",
    "clear_free_regions",
    "color",
    "face_swap",
    "fill",
    "free_region",
    "interpolate",
    "missing_text",
    "polygon",
    "random_style",
    "rectangle",
    "regions_arg",
    "reset",
    "set_mask",
    "settings",
    "transfer",
    "tune",
    "tuned",
]


class RefFacts(Protocol):
    """What an edit needs to know of a reference face: its id and which classes its mask holds."""

    id: str
    present: np.ndarray  # bool [19]


@dataclass(frozen=True)
class Edit:
    """An edit's outcome: the new state, the regions it set, and asked regions it had to skip."""

    state: EditState
    regions: tuple[int, ...] = ()
    skipped: tuple[int, ...] = ()


def regions_arg(regions) -> list[int]:
    """A region name or id, or a list of them (names like ``eyes`` stand for several ids) -> ids."""
    if isinstance(regions, (int, np.integer, str)):
        regions = [regions]
    if not isinstance(regions, (list, tuple)) or len(regions) > 64:
        raise StateError(f"regions must be a region name or id, or a list of them, got {regions!r}"[:200])
    out: list[int] = []
    for r in regions:
        for i in labels.region_ids(r) if isinstance(r, str) else (check_region(r),):
            if i not in out:
                out.append(i)
    if not out:
        raise StateError("no regions given")
    return out


def missing_text(regions: Iterable[int]) -> str:
    """'hair, hat': the lower-case display names of ``regions``."""
    return ", ".join(labels.DISPLAY_NAMES[r].lower() for r in regions)


def _with_overrides(state: EditState, overrides: Mapping[int, Override | None]) -> EditState:
    for r, ov in overrides.items():
        state = state.with_override(r, ov)
    return state


# --- mask edits -----------------------------------------------------------------------------------
def _apply(state: EditState, delta: maskops.MaskDelta) -> EditState:
    return state if delta.empty else state.with_mask(delta.apply(state.mask))


def brush(state: EditState, points, radius, label: int, *, only_label: int | None = None) -> EditState:
    pts = points_arg(points, "brush points", StateError)
    radius = number_arg(radius, "brush radius", 0.0, 4096.0, StateError)
    return _apply(state, maskops.brush(state.mask, pts, radius, label, only_label=only_label))


def fill(state: EditState, x, y, label: int) -> EditState:
    x = number_arg(x, "fill x", -MAX_COORD, MAX_COORD, StateError)
    y = number_arg(y, "fill y", -MAX_COORD, MAX_COORD, StateError)
    return _apply(state, maskops.flood_fill(state.mask, x, y, label))


def polygon(state: EditState, points, label: int) -> EditState:
    pts = points_arg(points, "polygon points", StateError, 3)
    return _apply(state, maskops.polygon(state.mask, pts, label))


def rectangle(state: EditState, x0, y0, x1, y1, label: int) -> EditState:
    c = [number_arg(v, "rectangle corner", -MAX_COORD, MAX_COORD, StateError) for v in (x0, y0, x1, y1)]
    return _apply(state, maskops.rectangle(state.mask, *c, label))


def set_mask(state: EditState, mask) -> EditState:
    return state.with_mask(validate_mask(mask, state.mask.shape))


# --- style edits ----------------------------------------------------------------------------------
def transfer(state: EditState, ref: RefFacts, regions) -> Edit:
    """The reference's style for each asked region it has; the rest are reported in ``skipped``."""
    asked = regions_arg(regions)
    usable = tuple(r for r in asked if ref.present[r])
    skipped = tuple(r for r in asked if not ref.present[r])
    if not usable:
        raise EngineError(f"the reference has no {missing_text(skipped)} region to take a style from")
    ov = Override("reference", ref=ref.id)
    return Edit(_with_overrides(state, dict.fromkeys(usable, ov)), usable, skipped)


def face_swap(state: EditState, ref: RefFacts) -> Edit:
    """Face swap+: every face-swap class (face and hair) the reference has takes its style."""
    if not ref.present[labels.INDEX["skin"]]:
        raise EngineError("the reference has no face skin region; face swap needs a face")
    usable = tuple(r for r in labels.FACE_SWAP_CLASSES if ref.present[r])
    skipped = tuple(r for r in labels.FACE_SWAP_CLASSES if not ref.present[r])
    ov = Override("reference", ref=ref.id)
    return Edit(_with_overrides(state, dict.fromkeys(usable, ov)), usable, skipped)


def color(state: EditState, regions, rgb) -> EditState:
    ov = Override("color", rgb=parse_color(rgb))
    return _with_overrides(state, dict.fromkeys(regions_arg(regions), ov))


def random_style(state: EditState, regions, seed: int, groups: Mapping[str, Iterable[int]]) -> Edit:
    """One seeded RSM draw for each asked region and the present regions of its RSM group (``groups``:
    the bundle's, as :meth:`engine.faceengine.FaceEngine.rsm_groups` reports them)."""
    ov = Override("random", seed=seed)
    present = set(np.flatnonzero(np.bincount(state.mask.ravel(), minlength=labels.NUM_CLASSES)).tolist())
    drawn: list[int] = []
    for r in regions_arg(regions):
        group = next((tuple(cs) for cs in groups.values() if r in cs), (r,))
        for c in (r, *(c for c in group if c != r and c in present)):
            if c not in drawn:
                drawn.append(c)
    return Edit(_with_overrides(state, dict.fromkeys(drawn, ov)), tuple(drawn))


def tuned(current: Override | None, seed: int, eta: float) -> Override | None:
    """``current`` with a z-space step (seed, η); None when that leaves the region's own style as it is.
    Bad values raise ``StateError`` (``Override`` checks them)."""
    base = current if current is not None else Override("own")
    new = replace(base, tune_seed=seed, tune_eta=eta)
    return None if base.kind == "own" and not new.tuned else new


def tune(state: EditState, regions, seed: int, eta: float) -> EditState:
    ids = regions_arg(regions)
    return _with_overrides(state, {r: tuned(state.override(r), seed, eta) for r in ids})


def interpolate(state: EditState, regions, ref: RefFacts, t: float) -> EditState:
    """Blend each region ``t`` of the way towards the reference's style; a region already blending
    towards the same reference keeps the rest of its override (its fine-tune, its source region)."""
    def blend(r: int) -> Override:
        cur = state.override(r)
        if cur is not None and cur.kind == "interp" and cur.ref == ref.id:
            return replace(cur, t=t)
        return Override("interp", ref=ref.id, t=t)

    return _with_overrides(state, {r: blend(r) for r in regions_arg(regions)})


def reset(state: EditState, regions) -> EditState:
    return _with_overrides(state, dict.fromkeys(regions_arg(regions)))


def free_region(state: EditState, region_mask, ref: RefFacts) -> EditState:
    """Add a user-drawn region (no labels) that takes the reference's style (paper 001)."""
    region_mask = np.asarray(region_mask)
    if region_mask.shape != state.mask.shape:
        raise StateError(f"free region is {region_mask.shape}, expected {state.mask.shape}")
    return state.with_free_region(FreeRegion.from_mask(ref.id, region_mask))


def clear_free_regions(state: EditState) -> EditState:
    return replace(state, free_regions=())


def settings(state: EditState, **kw) -> EditState:
    """Harmoniser, its strength alpha, or the composite mode; a value of None leaves that setting."""
    return state.with_settings(**{k: v for k, v in kw.items() if v is not None})
