"""Immutable edit state: the mask plus declarative per-region overrides.

Nothing here bakes an edit into pixels or style codes. A state is resolved to styles and pixels only at
render time, so undo is exact and a state can be saved and restored as plain JSON.
"""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass, field, replace

import cv2
import numpy as np

from engine.labels import MIRROR, NAMES, NUM_CLASSES
from engine.limits import MAX_EMBEDDED_MASK_PIXELS, png_size

OVERRIDE_KINDS = ("reference", "color", "random", "interp", "own")
#: Kinds whose style comes from another face: the MRSA harmoniser corrects these rows and only these.
PASTED_KINDS = ("reference", "interp", "random")
HARMONIZERS = ("mrsa", "msca", "off")
COMPOSITES = ("changed", "moved", "raw", "whole")
#: The state's settings (not per region): what ``EditState.with_settings`` changes.
SETTINGS = ("harmonizer", "alpha", "composite")
MAX_SEED = 2**31 - 1
MAX_ETA = 10.0


class StateError(ValueError):
    """A bad edit argument or malformed saved state. The message says what and where."""


def _int(v, what: str, lo: int, hi: int) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
        raise StateError(f"{what} must be an integer, got {v!r}")
    if not lo <= int(v) <= hi:
        raise StateError(f"{what} must be in {lo}..{hi}, got {v}")
    return int(v)


def _float(v, what: str, lo: float, hi: float) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
        raise StateError(f"{what} must be a number, got {v!r}")
    f = float(v)
    if not math.isfinite(f) or not lo <= f <= hi:
        raise StateError(f"{what} must be a finite number in [{lo}, {hi}], got {v}")
    return f


def check_region(region) -> int:
    return _int(region, "region", 0, NUM_CLASSES - 1)


def parse_color(text) -> tuple[int, int, int]:
    """'#rrggbb', 'rrggbb' or an (r, g, b) triple -> (r, g, b)."""
    if isinstance(text, (tuple, list)):
        if len(text) != 3:
            raise StateError(f"a colour needs 3 components, got {text!r}")
        return tuple(_int(c, "colour component", 0, 255) for c in text)  # type: ignore[return-value]
    if not isinstance(text, str):
        raise StateError(f"bad colour {text!r}; use #rrggbb")
    s = text.strip().lstrip("#")
    if len(s) != 6 or any(c not in "0123456789abcdefABCDEF" for c in s):
        raise StateError(f"bad colour {text!r}; use #rrggbb, e.g. #a0522d")
    return (int(s[0:2], 16), int(s[2:4], 16), int(s[4:6], 16))


@dataclass(frozen=True)
class Override:
    """How one region's style is set. ``kind``: reference | color | random | interp | own."""

    kind: str
    ref: str | None = None
    source_region: int | None = None
    rgb: tuple[int, int, int] | None = None
    seed: int | None = None
    t: float = 1.0
    tune_seed: int | None = None
    tune_eta: float = 0.0

    def __post_init__(self):
        if self.kind not in OVERRIDE_KINDS:
            raise StateError(f"unknown override kind {self.kind!r}; one of {', '.join(OVERRIDE_KINDS)}")
        if self.kind in ("reference", "interp") and not (isinstance(self.ref, str) and self.ref):
            raise StateError(f"a {self.kind} override needs a reference id")
        if self.ref is not None and (not isinstance(self.ref, str) or len(self.ref) > 128):
            raise StateError("reference id must be a short string")
        if self.source_region is not None:
            check_region(self.source_region)
        if self.kind == "color":
            object.__setattr__(self, "rgb", parse_color(self.rgb))
        if self.kind == "random":
            _int(self.seed, "random seed", 0, MAX_SEED)
        _float(self.t, "interpolation t", 0.0, 1.0)
        if self.tune_seed is not None:
            _int(self.tune_seed, "tune seed", 0, MAX_SEED)
        _float(self.tune_eta, "tune step eta", -MAX_ETA, MAX_ETA)

    @property
    def tuned(self) -> bool:
        return self.tune_seed is not None and self.tune_eta != 0.0

    def to_json(self) -> dict:
        d = {"kind": self.kind}
        for k in ("ref", "source_region", "rgb", "seed", "tune_seed"):
            v = getattr(self, k)
            if v is not None:
                d[k] = list(v) if k == "rgb" else v
        if self.kind == "interp":
            d["t"] = self.t
        if self.tune_eta:
            d["tune_eta"] = self.tune_eta
        return d

    @classmethod
    def from_json(cls, d) -> Override:
        if not isinstance(d, dict):
            raise StateError(f"an override must be an object, got {type(d).__name__}")
        allowed = {"kind", "ref", "source_region", "rgb", "seed", "t", "tune_seed", "tune_eta"}
        extra = set(d) - allowed
        if extra:
            raise StateError(f"unknown override fields {sorted(extra)}")
        rgb = d.get("rgb")
        return cls(
            kind=d.get("kind"),
            ref=d.get("ref"),
            source_region=d.get("source_region"),
            rgb=tuple(rgb) if isinstance(rgb, list) else rgb,
            seed=d.get("seed"),
            t=d.get("t", 1.0),
            tune_seed=d.get("tune_seed"),
            tune_eta=d.get("tune_eta", 0.0),
        )


@dataclass(frozen=True)
class FreeRegion:
    """A user-drawn region (no labels) that takes a reference's style (paper 001)."""

    ref: str
    bits: bytes  # np.packbits of a bool mask of the state's shape
    shape: tuple[int, int]

    @classmethod
    def from_mask(cls, ref: str, region: np.ndarray) -> FreeRegion:
        region = np.asarray(region)
        if region.ndim != 2:
            raise StateError("a free region must be a 2-D boolean mask")
        b = region.astype(bool)
        if not b.any():
            raise StateError("the free region is empty")
        return cls(ref, np.packbits(b).tobytes(), (int(b.shape[0]), int(b.shape[1])))

    def mask(self) -> np.ndarray:
        n = self.shape[0] * self.shape[1]
        return np.unpackbits(np.frombuffer(self.bits, np.uint8), count=n).reshape(self.shape).astype(bool)

    def to_json(self) -> dict:
        return {"ref": self.ref, "shape": list(self.shape), "bits": base64.b64encode(self.bits).decode("ascii")}

    @staticmethod
    def list_from_json(items, shape: tuple[int, int]) -> tuple[FreeRegion, ...]:
        """Free regions saved by :meth:`to_json` (session files, undo records), checked against the
        mask ``shape``."""
        if not isinstance(items, list) or len(items) > 256:
            raise StateError("'free_regions' must be a list (at most 256)")
        out = []
        for f in items:
            if not isinstance(f, dict) or not isinstance(f.get("ref"), str) or not 0 < len(f["ref"]) <= 128:
                raise StateError("a free region needs a reference id (a short string)")
            if f.get("shape") != list(shape):
                raise StateError("a free region's shape differs from the mask's")
            raw = f.get("bits")
            if not isinstance(raw, str) or len(raw) > 4 * shape[0] * shape[1] + 1024:
                raise StateError("a free region's bits must be a base64 string")
            try:
                bits = base64.b64decode(raw, validate=True)
            except (ValueError, TypeError):
                raise StateError("a free region's bits are not valid base64") from None
            if len(bits) != (shape[0] * shape[1] + 7) // 8:
                raise StateError("a free region's bits have the wrong length")
            out.append(FreeRegion(f["ref"], bits, (int(shape[0]), int(shape[1]))))
        return tuple(out)


def _readonly(mask: np.ndarray) -> np.ndarray:
    m = np.array(mask, dtype=np.uint8, copy=True)
    m.setflags(write=False)
    return m


@dataclass(frozen=True)
class EditState:
    """One immutable snapshot of an edit: what a worker renders and what undo restores."""

    mask: np.ndarray
    overrides: tuple[tuple[int, Override], ...] = ()
    harmonizer: str = "mrsa"
    alpha: float = 1.0
    composite: str = "moved"
    free_regions: tuple[FreeRegion, ...] = field(default=())

    def __post_init__(self):
        m = np.asarray(self.mask)
        if m.ndim != 2 or m.dtype != np.uint8:
            raise StateError(f"mask must be a 2-D uint8 label map, got {m.dtype} {m.shape}")
        if m.size and int(m.max()) >= NUM_CLASSES:
            raise StateError(f"mask holds label {int(m.max())}; labels are 0..{NUM_CLASSES - 1}")
        if m.flags.writeable:
            object.__setattr__(self, "mask", _readonly(m))
        if self.harmonizer not in HARMONIZERS:
            raise StateError(f"unknown harmoniser {self.harmonizer!r}; use mrsa, msca or off")
        if self.composite not in COMPOSITES:
            raise StateError(f"unknown composite mode {self.composite!r}; use changed, raw or whole")
        _float(self.alpha, "alpha", 0.0, 2.0)
        regions = [r for r, _ in self.overrides]
        for r in regions:
            check_region(r)
        if len(set(regions)) != len(regions):
            raise StateError("a region has two overrides")
        object.__setattr__(self, "overrides", tuple(sorted(self.overrides, key=lambda ro: ro[0])))

    # --- queries -------------------------------------------------------------------------------
    def override(self, region: int) -> Override | None:
        for r, o in self.overrides:
            if r == region:
                return o
        return None

    @property
    def overridden(self) -> tuple[int, ...]:
        return tuple(r for r, _ in self.overrides)

    def refs(self) -> set[str]:
        out = {o.ref for _, o in self.overrides if o.ref}
        out |= {f.ref for f in self.free_regions}
        return out

    # --- pure updates --------------------------------------------------------------------------
    def with_mask(self, mask: np.ndarray) -> EditState:
        return replace(self, mask=_readonly(mask))

    def with_override(self, region: int, ov: Override | None) -> EditState:
        region = check_region(region)
        rest = tuple((r, o) for r, o in self.overrides if r != region)
        return replace(self, overrides=rest + (((region, ov),) if ov is not None else ()))

    def with_settings(self, **kw) -> EditState:
        if set(kw) - set(SETTINGS):
            raise StateError(f"unknown settings {sorted(set(kw) - set(SETTINGS))}")
        return replace(self, **kw)

    def with_free_region(self, fr: FreeRegion | None) -> EditState:
        return replace(self, free_regions=self.free_regions + ((fr,) if fr else ()))

    def sides_renamed(self) -> EditState:
        """The state with left and right classes renamed (mask and override regions): converts a state
        saved when ``l_*`` meant the image's left (session format 1) to today's names."""
        def ren(r):
            return int(MIRROR[r])

        overrides = tuple(
            (ren(r), o if o.source_region is None else replace(o, source_region=ren(o.source_region)))
            for r, o in self.overrides
        )
        return replace(self, mask=_readonly(MIRROR[self.mask]), overrides=overrides)

    def same_as(self, other: EditState) -> bool:
        return (
            np.array_equal(self.mask, other.mask)
            and self.overrides == other.overrides
            and all(getattr(self, k) == getattr(other, k) for k in SETTINGS)
            and self.free_regions == other.free_regions
        )

    # --- JSON ------------------------------------------------------------------------------------
    def to_json(self) -> dict:
        ok, png = cv2.imencode(".png", np.ascontiguousarray(self.mask))
        assert ok
        return {
            "mask_png": base64.b64encode(png.tobytes()).decode("ascii"),
            "overrides": {NAMES[r]: o.to_json() for r, o in self.overrides},
            "harmonizer": self.harmonizer,
            "alpha": self.alpha,
            "composite": self.composite,
            "free_regions": [f.to_json() for f in self.free_regions],
        }

    @classmethod
    def from_json(cls, d, shape: tuple[int, int] | None = None) -> EditState:
        if not isinstance(d, dict):
            raise StateError("the edit state must be a JSON object")
        mask = decode_mask_png(d.get("mask_png"), shape)
        ovs = d.get("overrides", {})
        if not isinstance(ovs, dict):
            raise StateError("'overrides' must map region names to overrides")
        overrides = []
        for name, o in ovs.items():
            if name not in NAMES:
                raise StateError(f"unknown region {name!r} in overrides")
            overrides.append((NAMES.index(name), Override.from_json(o)))
        free = FreeRegion.list_from_json(d.get("free_regions", []), mask.shape)
        return cls(
            mask=mask,
            overrides=tuple(overrides),
            harmonizer=d.get("harmonizer", "mrsa"),
            alpha=d.get("alpha", 1.0),
            composite=d.get("composite", "changed"),
            free_regions=tuple(free),
        )


def decode_mask_png(text, shape: tuple[int, int] | None = None) -> np.ndarray:
    if not isinstance(text, str) or len(text) > 50_000_000:
        raise StateError("'mask_png' must be a base64 PNG string")
    try:
        raw = base64.b64decode(text, validate=True)
    except (ValueError, TypeError):
        raise StateError("'mask_png' is not valid base64") from None
    size = png_size(raw)
    if size is None:
        raise StateError("'mask_png' is not a PNG image")
    w, h = size
    if shape is not None and (h, w) != tuple(shape):
        raise StateError(f"saved mask is {w}×{h}, expected {shape[1]}×{shape[0]}")
    if w * h > MAX_EMBEDDED_MASK_PIXELS:
        raise StateError(f"saved mask claims to be {w}×{h} pixels, far larger than any mask")
    try:
        m = cv2.imdecode(np.frombuffer(raw, np.uint8), cv2.IMREAD_UNCHANGED)
    except cv2.error:
        m = None
    if m is None or m.ndim != 2 or m.dtype != np.uint8:
        raise StateError("'mask_png' is not an 8-bit single-channel PNG")
    if shape is not None and m.shape != tuple(shape):
        raise StateError(f"saved mask is {m.shape[1]}×{m.shape[0]}, expected {shape[1]}×{shape[0]}")
    if m.size and int(m.max()) >= NUM_CLASSES:
        raise StateError(f"saved mask holds label {int(m.max())}; labels are 0..{NUM_CLASSES - 1}")
    return m
