"""Reference-based edits of the controller: transfer, face swap+ and free-region stylisation.

References are prepared (aligned, parsed, encoded) once in the worker; callers wait for that through
``with_reference`` without blocking the UI. Mixed into editor.controller.EditorController.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from editor import jobs
from engine import edits
from engine.labels import DISPLAY_NAMES
from engine.session import EngineError

MAX_REF_INFOS = 64  # prepared references the UI keeps (a 256² crop each)


class ReferenceEdits:
    """Expects the controller's doc, client, refs, signals, ``apply`` and ``_edit``."""

    # --- references -----------------------------------------------------------------------------
    def with_reference(self, path: str, fn: Callable[[jobs.RefInfo], None]) -> None:
        """Call ``fn(info)`` once the reference is prepared (at once if it already is)."""
        path = str(path)
        if path in self.refs:
            fn(self.refs[path])
            return
        waiters = self._ref_waiters.setdefault(path, [])
        waiters.append(fn)
        if len(waiters) > 1:
            return
        self.status.emit(f"Preparing reference {Path(path).name}…")
        self.client.submit(
            "reference",
            jobs.add_reference,
            path,
            on_done=self._reference_ready,
            on_error=lambda m: self._reference_failed(path, m),
        )

    def _reference_ready(self, info: jobs.RefInfo) -> None:
        self.refs[info.path] = info
        self.remember_reference(info)
        while len(self.refs) > MAX_REF_INFOS:  # the oldest; it is prepared again when used again
            self.refs.pop(next(iter(self.refs)))
        self.referenceReady.emit(info)
        for fn in self._ref_waiters.pop(info.path, []):
            fn(info)

    def _reference_failed(self, path: str, message: str) -> None:
        self._ref_waiters.pop(path, None)
        self.error(f"Could not use {Path(path).name} as a reference: {message}")

    def ref_names(self) -> dict[str, str]:
        return {i.id: Path(i.path).stem for i in self.refs.values()}

    def transfer(self, path: str, regions) -> None:
        regions = [int(r) for r in regions]
        gen = self.doc.generation if self.doc else None
        self.with_reference(path, lambda info: self._apply_transfer(gen, info, regions))

    def _apply_transfer(self, gen, info: jobs.RefInfo, regions: list[int]) -> None:
        if self.doc is None or self.doc.generation != gen:
            return
        name = Path(info.path).name
        try:
            edit = edits.transfer(self.doc.state, info, regions)
        except EngineError as e:
            self.error(f"{name}: {e}.")
            return
        self.last_ref = info
        usable = edit.regions
        names = ", ".join(DISPLAY_NAMES[r] for r in usable) if len(usable) <= 3 else f"{len(usable)} regions"
        self.apply(edit, f"Transfer {names}")
        note = f" ({name} has no {edits.missing_text(edit.skipped)})" if edit.skipped else ""
        self.status.emit(f"Transferred {names} from {name}{note}.")

    def face_swap(self, path: str) -> None:
        gen = self.doc.generation if self.doc else None
        self.with_reference(path, lambda info: self._apply_face_swap(gen, info))

    def _apply_face_swap(self, gen, info: jobs.RefInfo) -> None:
        if self.doc is None or self.doc.generation != gen:
            return
        name = Path(info.path).name
        try:
            edit = edits.face_swap(self.doc.state, info)
        except EngineError as e:
            self.error(f"{name}: {e}.")
            return
        self.last_ref = info
        self.apply(edit, "Face swap+")
        self.status.emit(f"Face swap+ from {name}: {len(edit.regions)} regions.")

    # --- free regions ---------------------------------------------------------------------------
    def set_pending_free_region(self, region: np.ndarray | None) -> None:
        self.pending_free = region
        self.pendingFreeChanged.emit()
        if region is not None:
            self.status.emit("Region outlined. Now drag a reference from the gallery into it.")

    def free_region(self, path: str, region: np.ndarray | None = None) -> None:
        region = self.pending_free if region is None else region
        if region is None or self.doc is None:
            return
        gen = self.doc.generation
        self.with_reference(path, lambda info: self._apply_free(gen, info, region))

    def _apply_free(self, gen, info: jobs.RefInfo, region: np.ndarray) -> None:
        if self.doc is None or self.doc.generation != gen:
            return
        self.last_ref = info
        self.pending_free = None
        self.pendingFreeChanged.emit()
        self._edit(edits.free_region, region, info, text="Stylise free region")

    def clear_free_regions(self) -> None:
        if self.doc is not None and self.doc.state.free_regions:
            self.apply(edits.clear_free_regions(self.doc.state), "Clear free regions")
