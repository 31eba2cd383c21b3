"""EditSession: the Qt-free editing API that the CLI and the tests drive.

A session is a prepared photo, an immutable ``EditState`` and an undo/redo history of states. Every
edit replaces the state; undo swaps back the previous state, so it restores the exact prior render.
Session files are JSON (format version, photo path + hash, alignment, parsed mask, edit state,
references) and never hold code.
"""

from __future__ import annotations

import os
from dataclasses import replace

import numpy as np

from engine import labels, maskops
from engine.bundle import Bundle, BundleError, default_bundle_path, load_bundle
from engine.faceengine import EngineError, FaceEngine, PreparedImage, recolor
from engine.imageio import ImageError, save_image, save_mask
from engine.limits import (
    MAX_COORD,
    number_arg,
    points_arg,
)
from engine.sessionfile import (
    SessionFileError,
    check_session_header,
    load_references,
    photo_sha256,
    read_session_doc,
    read_session_file,
    session_doc,
    write_session_file,
)
from engine.state import (
    EditState,
    FreeRegion,
    Override,
    StateError,
    check_region,
    parse_color,
)

DEFAULT_HISTORY = 500


__all__ = [
    "EditSession",
    "EditState",
    "EngineError",
    "FaceEngine",
    "FreeRegion",
    "Override",
    "PreparedImage",
    "StateError",
    "SessionFileError",
    "check_session_header",
    "load_references",
    "parse_color",
    "photo_sha256",
    "read_session_doc",
    "recolor",
    "read_session_file",
    "session_doc",
    "write_session_file",
]


class EditSession:
    """One photo being edited, with undo/redo. Every method raises EngineError/StateError subclasses."""

    def __init__(self, engine: FaceEngine, prepared: PreparedImage, state: EditState | None = None,
                 *, history_limit: int = DEFAULT_HISTORY):
        self.engine = engine
        self.prepared = prepared
        self.state = state if state is not None else engine.initial_state(prepared)
        self._undo: list[EditState] = []
        self._redo: list[EditState] = []
        self.history_limit = history_limit

    # --- construction ---------------------------------------------------------------------------
    @staticmethod
    def load_engine(bundle: Bundle | str | os.PathLike | None = None, **engine_opts) -> FaceEngine:
        if isinstance(bundle, FaceEngine):
            return bundle
        if not isinstance(bundle, Bundle):
            try:
                bundle = load_bundle(bundle or default_bundle_path())
            except BundleError as e:
                raise EngineError(str(e)) from None
        return FaceEngine(bundle, **engine_opts)

    @classmethod
    def open(cls, photo, bundle=None, *, align: bool = True, **engine_opts) -> EditSession:
        engine = cls.load_engine(bundle, **engine_opts)
        return cls(engine, engine.prepare(photo, align=align))

    @classmethod
    def load(cls, path, bundle=None, **engine_opts) -> EditSession:
        engine = cls.load_engine(bundle, **engine_opts)
        prep, state = read_session_file(path, engine)
        return cls(engine, prep, state)

    # --- history --------------------------------------------------------------------------------
    def _push(self, new: EditState) -> EditState:
        if new.same_as(self.state):
            return self.state
        self._undo.append(self.state)
        if len(self._undo) > self.history_limit:
            del self._undo[0]
        self._redo.clear()
        self.state = new
        return new

    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)

    def undo(self) -> bool:
        if not self._undo:
            return False
        self._redo.append(self.state)
        self.state = self._undo.pop()
        return True

    def redo(self) -> bool:
        if not self._redo:
            return False
        self._undo.append(self.state)
        self.state = self._redo.pop()
        return True

    # --- mask edits -----------------------------------------------------------------------------
    def _mask_op(self, delta: maskops.MaskDelta) -> EditState:
        if delta.empty:
            return self.state
        return self._push(self.state.with_mask(delta.apply(self.state.mask)))

    def paint_brush(self, points, radius: float, label: int, *, only_label: int | None = None):
        pts = points_arg(points, "brush points", StateError)
        radius = number_arg(radius, "brush radius", 0.0, 4096.0, StateError)
        return self._mask_op(maskops.brush(self.state.mask, pts, radius, label, only_label=only_label))

    def fill(self, x: float, y: float, label: int):
        x = number_arg(x, "fill x", -MAX_COORD, MAX_COORD, StateError)
        y = number_arg(y, "fill y", -MAX_COORD, MAX_COORD, StateError)
        return self._mask_op(maskops.flood_fill(self.state.mask, x, y, label))

    def paint_polygon(self, points, label: int):
        pts = points_arg(points, "polygon points", StateError, 3)
        return self._mask_op(maskops.polygon(self.state.mask, pts, label))

    def paint_rect(self, x0, y0, x1, y1, label: int):
        c = [number_arg(v, "rectangle corner", -MAX_COORD, MAX_COORD, StateError) for v in (x0, y0, x1, y1)]
        return self._mask_op(maskops.rectangle(self.state.mask, *c, label))

    def set_mask(self, mask: np.ndarray):
        from engine.imageio import validate_mask

        m = validate_mask(mask, self.state.mask.shape)
        return self._push(self.state.with_mask(m))

    # --- style edits ----------------------------------------------------------------------------
    def add_reference(self, photo, *, align: bool = True) -> str:
        return self.engine.add_reference(photo, align=align)

    def _ref_id(self, ref) -> str:
        if isinstance(ref, str) and self.engine.has_reference(ref):
            return ref
        return self.engine.add_reference(ref)

    def _regions(self, regions) -> list[int]:
        if isinstance(regions, (int, np.integer, str)):
            regions = [regions]
        if not isinstance(regions, (list, tuple)) or len(regions) > 64:
            raise StateError(f"regions must be a region name or id, or a list of them, got {regions!r}"[:200])
        out: list[int] = []
        for r in regions:
            out.extend(labels.region_ids(r) if isinstance(r, str) else (check_region(r),))
        if not out:
            raise StateError("no regions given")
        return out

    def _set_overrides(self, regions, make) -> EditState:
        st = self.state
        for r in self._regions(regions):
            st = st.with_override(r, make(r, st.override(r)))
        return self._push(st)

    def transfer(self, ref, regions):
        rid = self._ref_id(ref)
        ref_prep = self.engine.reference(rid)
        regs = self._regions(regions)
        absent = [labels.DISPLAY_NAMES[r].lower() for r in regs if not ref_prep.present[r]]
        if absent:
            raise EngineError(f"the reference has no {', '.join(absent)} region to take a style from")
        return self._set_overrides(regs, lambda r, old: Override("reference", ref=rid))

    def face_swap(self, ref):
        rid = self._ref_id(ref)
        ref_prep = self.engine.reference(rid)
        regs = [r for r in labels.FACE_SWAP_CLASSES if ref_prep.present[r]]
        if not ref_prep.present[labels.INDEX["skin"]]:
            raise EngineError("the reference has no face skin region; face swap needs a face")
        return self._set_overrides(regs, lambda r, old: Override("reference", ref=rid))

    def color(self, region, rgb):
        rgb = parse_color(rgb)
        return self._set_overrides(region, lambda r, old: Override("color", rgb=rgb))

    def random_style(self, region, seed: int):
        return self._set_overrides(region, lambda r, old: Override("random", seed=seed))

    def tune(self, region, seed: int, eta: float):
        def make(r, old):
            base = old or Override("own")
            return replace(base, tune_seed=seed, tune_eta=eta)

        return self._set_overrides(region, make)

    def interpolate(self, region, ref, t: float):
        rid = self._ref_id(ref)
        return self._set_overrides(region, lambda r, old: Override("interp", ref=rid, t=t))

    def stylize_free_region(self, region_mask: np.ndarray, ref):
        rid = self._ref_id(ref)
        region_mask = np.asarray(region_mask)
        if region_mask.shape != self.state.mask.shape:
            raise StateError(f"free region is {region_mask.shape}, expected {self.state.mask.shape}")
        return self._push(self.state.with_free_region(FreeRegion.from_mask(rid, region_mask)))

    def reset_region(self, region):
        return self._set_overrides(region, lambda r, old: None)

    def set_harmonizer(self, name: str, alpha: float | None = None):
        kw = {"harmonizer": name}
        if alpha is not None:
            kw["alpha"] = alpha
        return self._push(self.state.with_settings(**kw))

    def set_composite(self, mode: str):
        return self._push(self.state.with_settings(composite=mode))

    # --- output ---------------------------------------------------------------------------------
    def render(self) -> np.ndarray:
        return self.engine.render(self.prepared, self.state)

    def render_full(self) -> np.ndarray:
        return self.engine.compose_full(self.prepared, self.state)

    def export(self, path, *, mask_path=None, session_path=None, quality: int = 95) -> None:
        """Write the full-size photo (atomic), and optionally the mask PNG and a session file."""
        full = self.render_full()
        try:
            save_image(path, full, quality=quality)
            if mask_path:
                save_mask(mask_path, self.state.mask)
        except ImageError as e:
            raise EngineError(str(e)) from None
        if session_path:
            self.save(session_path)

    def save(self, path) -> None:
        write_session_file(path, self.engine, self.prepared, self.state)
