"""EditSession: the Qt-free editing API that the CLI and the tests drive.

A session is a prepared photo, an immutable ``EditState`` and an undo/redo history of operations
(:mod:`engine.history`). Every edit (:mod:`engine.edits`) gives a new state; the history records the
step between the two, and undo takes it back exactly, so it restores the exact prior render.
Session files are JSON (format version, photo path + hash, alignment, parsed mask, edit state,
references) and never hold code.
"""

from __future__ import annotations

import os

import numpy as np

from engine import edits, maskops, workmask
from engine.bundle import Bundle, BundleError, default_bundle_path, load_bundle
from engine.errors import Superseded
from engine.faceengine import EngineError, FaceEngine, PreparedImage, recolor
from engine.history import History, op_between
from engine.imageio import ImageError, save_image, save_mask
from engine.photoview import ViewRender, ViewUpdate, display_matrix, view_scale
from engine.sessionfile import (
    SessionFileError,
    check_session_header,
    load_references,
    photo_sha256,
    read_session_doc,
    read_session_file,
    session_doc,
    session_version,
    write_session_file,
)
from engine.state import EditState, FreeRegion, Override, StateError, parse_color

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
    "Superseded",
    "ViewRender",
    "ViewUpdate",
    "display_matrix",
    "view_scale",
    "check_session_header",
    "load_references",
    "parse_color",
    "photo_sha256",
    "read_session_doc",
    "recolor",
    "read_session_file",
    "session_doc",
    "session_version",
    "write_session_file",
]


class EditSession:
    """One photo being edited, with undo/redo. Every method raises EngineError/StateError subclasses.

    The edits are :mod:`engine.edits`; each one becomes an :mod:`engine.history` operation, the same
    undo model the editor's undo stack and the autosave journal use. ``last_edit`` keeps the outcome of
    the last transfer, face swap or random draw (which regions were set, which the reference lacked)."""

    def __init__(self, engine: FaceEngine, prepared: PreparedImage, state: EditState | None = None,
                 *, history_limit: int = DEFAULT_HISTORY):
        self.engine = engine
        self.prepared = prepared
        self.history = History(state if state is not None else engine.initial_state(prepared),
                               limit=history_limit)
        self.last_edit: edits.Edit | None = None

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
    @property
    def state(self) -> EditState:
        return self.history.state

    def apply(self, new: EditState | edits.Edit, text: str = "") -> EditState:
        """Make ``new`` (a state, or an edit's outcome) the current state, as one undo step."""
        self.last_edit = new if isinstance(new, edits.Edit) else None
        if isinstance(new, edits.Edit):
            new = new.state
        op = op_between(self.state, new, text)
        if op is not None:
            self.history.push(op)
        return self.state

    @property
    def can_undo(self) -> bool:
        return self.history.index > 0

    @property
    def can_redo(self) -> bool:
        return self.history.index < len(self.history.ops)

    def undo(self) -> bool:
        return self.history.undo()

    def redo(self) -> bool:
        return self.history.redo()

    # --- mask edits -----------------------------------------------------------------------------
    # Coordinates are the aligned crop's pixels at the networks' resolution (pixel centres at whole
    # numbers), whatever the working grid: a script means the same stroke on any photo. They are
    # carried onto the working grid (engine.workmask) here, where the stroke is drawn k times finer.
    def _work_points(self, points):
        k = self.prepared.work_scale
        if k == 1:
            return points
        pts = maskops.points_array(points)
        return pts * k + 0.5 * (k - 1)

    def paint_brush(self, points, radius: float, label: int, *, only_label: int | None = None):
        radius = radius * self.prepared.work_scale if isinstance(radius, (int, float)) else radius
        return self.apply(
            edits.brush(self.state, self._work_points(points), radius, label, only_label=only_label), "Brush"
        )

    def fill(self, x: float, y: float, label: int):
        k = self.prepared.work_scale
        if k > 1:
            x, y = self._work_points([[x, y]])[0]
        return self.apply(edits.fill(self.state, x, y, label), "Fill")

    def paint_polygon(self, points, label: int):
        return self.apply(edits.polygon(self.state, self._work_points(points), label), "Polygon")

    def paint_rect(self, x0, y0, x1, y1, label: int):
        k = self.prepared.work_scale
        if k > 1:  # the crop pixels x0..x1 (inclusive) are the working pixels k·x0 .. k·x1 + k - 1
            (x0, y0), (x1, y1) = maskops.points_array([[x0, y0], [x1, y1]]) * k
            x1, y1 = x1 + k - 1, y1 + k - 1
        return self.apply(edits.rectangle(self.state, x0, y0, x1, y1, label), "Rectangle")

    def set_mask(self, mask: np.ndarray):
        """Replace the mask: a label map on the working grid, or on the networks' (enlarged smoothly)."""
        m = np.asarray(mask)
        if self.prepared.work_scale > 1 and m.shape == self.prepared.parsed_mask.shape:
            m = self.prepared.mask_in_crop(m)[0]
        return self.apply(edits.set_mask(self.state, m), "Replace mask")

    # --- style edits ----------------------------------------------------------------------------
    def add_reference(self, photo, *, align: bool = True) -> str:
        return self.engine.add_reference(photo, align=align)

    def _ref(self, ref) -> PreparedImage:
        """A reference id already added, or a photo (path, array) to add first."""
        if isinstance(ref, str) and self.engine.has_reference(ref):
            return self.engine.reference(ref)
        return self.engine.reference(self.engine.add_reference(ref))

    def transfer(self, ref, regions):
        return self.apply(edits.transfer(self.state, self._ref(ref), regions), "Transfer")

    def face_swap(self, ref):
        return self.apply(edits.face_swap(self.state, self._ref(ref)), "Face swap+")

    def color(self, region, rgb):
        return self.apply(edits.color(self.state, region, rgb), "Recolour")

    def random_style(self, region, seed: int):
        edit = edits.random_style(self.state, region, seed, self.engine.rsm_groups())
        return self.apply(edit, "Random style")

    def tune(self, region, seed: int, eta: float):
        return self.apply(edits.tune(self.state, region, seed, eta), "Fine-tune")

    def interpolate(self, region, ref, t: float):
        return self.apply(edits.interpolate(self.state, region, self._ref(ref), t), "Blend")

    def stylize_free_region(self, region_mask: np.ndarray, ref):
        region_mask, k = np.asarray(region_mask), self.prepared.work_scale
        if k > 1 and region_mask.shape == self.prepared.parsed_mask.shape:  # given on the networks' grid
            region_mask = workmask.enlarge(region_mask, k)
        return self.apply(edits.free_region(self.state, region_mask, self._ref(ref)), "Stylise free region")

    def reset_region(self, region):
        return self.apply(edits.reset(self.state, region), "Reset style")

    def set_harmonizer(self, name: str, alpha: float | None = None):
        return self.apply(edits.settings(self.state, harmonizer=name, alpha=alpha), "Harmoniser")

    def set_composite(self, mode: str):
        return self.apply(edits.settings(self.state, composite=mode), "Composite")

    # --- output ---------------------------------------------------------------------------------
    def render(self) -> np.ndarray:
        return self.engine.render(self.prepared, self.state)

    def render_full(self) -> np.ndarray:
        return self.engine.compose_full(self.prepared, self.state)

    def export(self, path, *, mask_path=None, session_path=None, quality: int = 95) -> None:
        """Write the full-size photo (atomic), and optionally the mask PNG (in the photo's frame: the
        exported photo's width and height, as ``facepaint parse`` writes it) and a session file."""
        full = self.render_full()
        try:
            save_image(path, full, quality=quality)
            if mask_path:
                save_mask(mask_path, self.prepared.mask_in_photo(self.state.mask))
        except ImageError as e:
            raise EngineError(str(e)) from None
        if session_path:
            self.save(session_path)

    def save(self, path) -> None:
        write_session_file(path, self.engine, self.prepared, self.state)
