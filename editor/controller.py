"""EditorController: the document, its undo stack and the engine client, glued for the widgets.

Widgets and tools never touch the engine. They call the controller, which pushes undo commands
(that change the document), asks the worker to render, and reports results, progress and errors
through signals.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal

from editor import jobs
from editor.commands import HistoryStack, MaskEditCommand, OpCommand
from editor.document import Document
from editor.engine_client import EngineClient
from editor.engine_messages import RenderError, RenderResult
from editor.references import ReferenceEdits
from editor.restoring import AutosaveRestore
from engine import edits
from engine.history import op_between
from engine.labels import DISPLAY_NAMES, INDEX, NUM_CLASSES
from engine.maskops import MaskDelta
from engine.session import EditState, EngineError, StateError
from engine.state import MAX_SEED


@dataclass(frozen=True)
class _KnownRef:
    """A reference the state already uses but the UI has no details of (all its regions allowed)."""

    id: str
    present: np.ndarray = field(default_factory=lambda: np.ones(NUM_CLASSES, bool))


class EditorController(ReferenceEdits, AutosaveRestore, QObject):
    documentOpened = Signal()
    stateChanged = Signal(str)  # "mask" | "style" | "settings" | "free" | "all"
    previewChanged = Signal()  # the mask shown during a stroke changed
    resultChanged = Signal()
    viewChanged = Signal(object)  # engine.session.ViewUpdate: a box of the photo-space result
    selectionChanged = Signal(int)
    pendingFreeChanged = Signal()
    referenceReady = Signal(object)  # jobs.RefInfo
    status = Signal(str)
    errorRaised = Signal(str)
    regenerated = Signal(float)  # milliseconds the model took
    openingChanged = Signal(bool)
    photoLoaded = Signal(object)  # jobs.LoadedPhoto: the decoded photo, shown while it is parsed
    saved = Signal(str)

    def __init__(self, client: EngineClient, parent: QObject | None = None):
        super().__init__(parent)
        self.client = client
        self.undo_stack = HistoryStack(self)
        self.autosave = None  # editor.autosave.Autosave, set by the main window
        self.ref_sources: dict[str, dict] = {}  # reference id -> {"path", "sha256", "aligned"}
        self.doc: Document | None = None
        self.result: np.ndarray | None = None
        self.result_id = 0
        self.preview: np.ndarray | None = None
        self.current_label = INDEX["skin"]
        self.brush_size = 24  # diameter, photo pixels
        self.refs: dict[str, jobs.RefInfo] = {}
        self._ref_waiters: dict[str, list[Callable]] = {}
        self.last_ref: jobs.RefInfo | None = None
        self.pending_free: np.ndarray | None = None
        self.opening = False
        self.last_error: str | None = None
        self.last_render_ms: float | None = None
        self._last_request: tuple | None = None  # (document generation, state, request id)
        self.view_scale: float | None = None  # of the photo-space result (None: the finest)
        self.visible_box: tuple | None = None  # the photo box on screen (None: all)
        client.renderReady.connect(self._on_render)
        client.renderFailed.connect(self._on_render_failed)

    # --- opening --------------------------------------------------------------------------------
    def open_path(self, path: str | Path) -> None:
        """Open a photo or a session in the worker. A photo is decoded first and shown at once
        (``photoLoaded``); finding, parsing and encoding the face follow in the background."""
        path = Path(path)
        self.opening = True
        self.openingChanged.emit(True)
        if jobs.is_session_path(path):
            self.status.emit(f"Opening session {path.name}: reading the photo, parsing, replaying the edits…")
            self.client.submit(
                "open", jobs.open_any, str(path),
                on_done=self._opened, on_error=lambda m: self._open_failed(path, m),
            )  # fmt: skip
            return
        self.status.emit(f"Opening {path.name}: decoding the photo…")

        def loaded(got: jobs.LoadedPhoto) -> None:
            img = got.image
            self.photoLoaded.emit(got)
            h, w = img.rgb.shape[:2]
            self.status.emit(
                f"Opening {path.name} ({w}×{h}): finding the face, parsing the regions, encoding styles…"
            )
            self.client.submit(
                "open", jobs.open_loaded, img, str(path),
                on_done=self._opened, on_error=lambda m: self._open_failed(path, m),
            )  # fmt: skip

        self.client.submit("load", jobs.load_photo, str(path), on_done=loaded,
                           on_error=lambda m: self._open_failed(path, m))  # fmt: skip

    def _open_failed(self, path: Path, message: str) -> None:
        self.opening = False
        self.openingChanged.emit(False)
        self.error(f"Could not open {path.name}: {message}")

    def _opened(self, res: jobs.Opened) -> None:
        self.opening = False
        self.doc = Document(res.prepared, res.state, res.source)
        self.doc.photo_sha256 = res.sha256 or None
        if res.is_session:
            self.doc.session_path = res.source
            self.doc.source = Path(res.prepared.source) if res.prepared.source else res.source
        self.doc.subscribe(self._doc_changed)
        self.undo_stack.reset(self.doc.state)
        self.undo_stack.setClean()
        if self.autosave is not None:
            self.autosave.attach(self.doc, self.undo_stack, self.ref_entry)
        self.result, self.result_id, self.preview, self.pending_free = None, 0, None, None
        self.openingChanged.emit(False)
        self.documentOpened.emit()
        self.request_render()
        p = res.prepared
        if getattr(p, "face_found", True):
            self.status.emit(
                f"Opened {res.source.name}: face found and parsed. Paint, or drag a reference onto a region."
            )
        else:
            why = (p.status or "no face found").rstrip(". ")
            self.status.emit(f"Opened {res.source.name}: {why}. If the regions look wrong, paint over them.")

    # --- rendering ------------------------------------------------------------------------------
    def request_render(self, state=None, *, final: bool = True) -> int:
        """Ask for the state's picture. The same state as the latest request is not rendered twice
        (e.g. a stroke's release after its last preview), so its result arrives a whole render sooner.
        A preview (``final`` False) under way is given up once a final request waits behind it."""
        if self.doc is None:
            return 0
        state = state or self.doc.state
        last = self._last_request
        if last is not None and last[0] == self.doc.generation and last[2] == self.client.latest_render_id:
            if last[1] is state or last[1].same_as(state):
                if final:  # the preview asked for it is now the final render
                    self.client.promote(last[2])
                return last[2]
        rid = self.client.request_render(
            self.doc.prepared, state, token=self.doc.generation, view_scale=self.view_scale,
            visible=self.visible_box, final=final,
        )
        self._last_request = (self.doc.generation, state, rid)
        return rid

    def set_view_scale(self, scale: float | None, visible: tuple | None = None) -> None:
        """The photo-space result's scale the canvas wants (it follows the zoom) and the photo box on
        screen; a change asks for the current state again (only what is due is composed)."""
        if scale != self.view_scale or visible != self.visible_box:
            self.view_scale, self.visible_box = scale, visible
            self._last_request = None
            if self.doc is not None:
                state = self.doc.state if self.preview is None else self.doc.state.with_mask(self.preview)
                self.request_render(state)

    @property
    def result_is_current(self) -> bool:
        return self.result is not None and self.result_id == self.client.latest_render_id

    def _on_render(self, res: RenderResult) -> None:
        if self.doc is None or res.token != self.doc.generation or res.id < self.result_id:
            return  # stale: another photo, or older than what is shown
        self.result, self.result_id = res.image, res.id
        self.last_render_ms = res.seconds * 1000.0
        if res.view is not None:
            self.viewChanged.emit(res.view)
        self.resultChanged.emit()
        self.regenerated.emit(self.last_render_ms)

    def _on_render_failed(self, err: RenderError) -> None:
        self._last_request = None  # asking again for the same state must try again
        if self.doc is None or err.token != self.doc.generation or err.id < self.result_id:
            return
        self.result_id = err.id
        self.resultChanged.emit()
        self.error(f"Regenerating failed: {err.message}")

    def error(self, message: str) -> None:
        self.last_error = message
        self.errorRaised.emit(message)

    def _doc_changed(self, kind: str) -> None:
        self.stateChanged.emit(kind)
        self.request_render()

    # --- mask edits -----------------------------------------------------------------------------
    @property
    def displayed_mask(self) -> np.ndarray | None:
        if self.preview is not None:
            return self.preview
        return self.doc.state.mask if self.doc is not None else None

    def preview_mask(self, mask: np.ndarray) -> None:
        """Show (and regenerate) a mask during a stroke, without an undo step yet."""
        if self.doc is None:
            return
        self.preview = mask
        self.previewChanged.emit()
        self.request_render(self.doc.state.with_mask(mask), final=False)

    def cancel_preview(self) -> None:
        if self.preview is not None:
            self.preview = None
            self.previewChanged.emit()
            self.request_render()

    def commit_mask(self, delta: MaskDelta, text: str) -> None:
        had_preview = self.preview is not None
        self.preview = None
        if self.doc is None:
            return
        if delta.empty:
            if had_preview:
                self.previewChanged.emit()
                self.request_render()
            return
        self.undo_stack.push(MaskEditCommand(self.doc, delta, text))

    # --- selection ------------------------------------------------------------------------------
    def select_region(self, region: int) -> None:
        if region != self.current_label:
            self.current_label = int(region)
            self.selectionChanged.emit(self.current_label)

    # --- edits (engine.edits) -------------------------------------------------------------------
    def apply(self, new: EditState | edits.Edit, text: str) -> bool:
        """Make ``new`` (the outcome of an ``engine.edits`` function) the document's state as one undo
        step named ``text``. Nothing changed: no step, and any slider preview is dropped."""
        if self.doc is None:
            return False
        state = new.state if isinstance(new, edits.Edit) else new
        op = op_between(self.doc.state, state, text)
        if op is None:
            self.request_render()  # drop any slider preview
            return False
        self.undo_stack.push(OpCommand(self.doc, op))
        return True

    def preview_state(self, new: EditState | edits.Edit) -> None:
        """Render ``new`` without making it the state (a slider being dragged)."""
        if self.doc is not None:
            self.request_render(new.state if isinstance(new, edits.Edit) else new)

    def _edit(self, fn, *args, text: str, preview: bool = False) -> bool:
        """Run ``fn(state, *args)``; show its error instead of raising. Returns whether it changed."""
        if self.doc is None:
            return False
        try:
            new = fn(self.doc.state, *args)
        except (EngineError, StateError) as e:
            self.error(f"{text}: {e}")
            return False
        if preview:
            self.preview_state(new)
            return False
        return self.apply(new, text)

    def set_color(self, region: int, rgb) -> None:
        rgb = tuple(int(c) for c in rgb)
        self._edit(edits.color, region, rgb, text=f"Recolour {DISPLAY_NAMES[region]}")

    def random_style(self, region: int, seed: int) -> None:
        """One seeded RSM draw for ``region`` and the present regions of its RSM group."""
        seed = int(seed) % (MAX_SEED + 1)
        groups = self.client.rsm_groups
        self._edit(edits.random_style, int(region), seed, groups, text=f"Random {DISPLAY_NAMES[region]}")

    @staticmethod
    def new_seed() -> int:
        return random.randint(0, 999_999)

    def tune(self, region: int, seed: int, eta: float, *, preview: bool = False) -> None:
        text = f"Fine-tune {DISPLAY_NAMES[region]}"
        self._edit(edits.tune, int(region), seed, eta, text=text, preview=preview)

    def blend_reference(self, region: int) -> jobs.RefInfo | None:
        """The reference a blend of ``region`` moves towards: the one it already blends towards when
        that is still the last reference used, else the last reference (None: nothing to blend to)."""
        ov = self.doc.state.override(region) if self.doc is not None else None
        if ov is not None and ov.kind == "interp" and (self.last_ref is None or ov.ref == self.last_ref.id):
            return next((i for i in self.refs.values() if i.id == ov.ref), None) or _KnownRef(ov.ref)
        return self.last_ref

    def blend(self, region: int, t: float, *, preview: bool = False) -> None:
        ref = self.blend_reference(region)
        if ref is None or not ref.present[region]:
            return  # no reference yet, or it has nothing of this region to blend towards
        t = float(min(max(t, 0.0), 1.0))
        text = f"Blend {DISPLAY_NAMES[region]} {round(t * 100)} %"
        self._edit(edits.interpolate, int(region), ref, t, text=text, preview=preview)

    def reset_region(self, region: int) -> None:
        self._edit(edits.reset, int(region), text=f"Reset {DISPLAY_NAMES[region]} style")

    # --- settings -------------------------------------------------------------------------------
    def set_settings(self, text: str, **kw) -> bool:
        return self._edit(lambda st: edits.settings(st, **kw), text=text)

    def preview_settings(self, **kw) -> None:
        self._edit(lambda st: edits.settings(st, **kw), text="Settings", preview=True)

    # --- saving ---------------------------------------------------------------------------------
    def export(self, path, *, mask_path=None, session_path=None, on_done: Callable | None = None) -> None:
        if self.doc is None:
            self.error("Nothing to export: open a photo first.")
            return
        doc = self.doc

        def done(out):
            if session_path:
                doc.session_path = Path(session_path)
            if doc is self.doc:
                self.undo_stack.setClean()
            self.status.emit(f"Exported {Path(out).name} at the photo's full size.")
            self.saved.emit(str(out))
            if on_done:
                on_done(out)

        self.status.emit(f"Exporting {Path(path).name}…")
        self.client.submit(
            "export",
            jobs.export,
            doc.prepared,
            doc.state,
            str(path),
            mask_path and str(mask_path),
            session_path and str(session_path),
            on_done=done,
            on_error=lambda m: self.error(f"Export failed: {m}"),
        )

    def save_session(self, path, on_done: Callable | None = None) -> None:
        if self.doc is None:
            self.error("Nothing to save: open a photo first.")
            return
        doc = self.doc

        def done(out):
            doc.session_path = Path(out)
            if doc is self.doc:
                self.undo_stack.setClean()
            self.status.emit(f"Saved session {Path(out).name}.")
            self.saved.emit(str(out))
            if on_done:
                on_done(out)

        self.client.submit(
            "save",
            jobs.save_session,
            doc.prepared,
            doc.state,
            str(path),
            on_done=done,
            on_error=lambda m: self.error(f"Saving the session failed: {m}"),
        )
