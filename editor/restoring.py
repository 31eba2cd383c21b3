"""Crash recovery in the controller: an orphaned autosave restored in the worker (reopening the photo
and replaying its edits, :mod:`editor.recovery`), and the references it names remembered for the
autosave. Mixed into editor.controller.EditorController.
"""

from __future__ import annotations

from collections.abc import Callable

from editor import jobs
from editor.document import Document


class AutosaveRestore:
    """Expects the controller's client, refs, ref_sources, undo_stack, autosave, signals and
    ``request_render``, ``error`` and ``_doc_changed``."""

    # --- crash recovery -------------------------------------------------------------------------
    def ref_entry(self, rid: str) -> dict | None:
        return self.ref_sources.get(rid)

    def remember_reference(self, info: jobs.RefInfo) -> None:
        """Keep what is needed to name (autosave) and re-prepare (engine rebuilt) a reference."""
        if info.sha256:
            self.ref_sources[info.id] = info.entry()
        self.client.ref_paths[info.id] = info.path

    def restore_autosave(self, orphan, on_done: Callable | None = None) -> None:
        """Restore an orphaned autosave (editor.autosave.Orphan) in the worker, then show it."""
        self.opening = True
        self.openingChanged.emit(True)
        self.status.emit(f"Restoring {orphan.title}: reopening the photo and replaying its edits…")

        def failed(message: str) -> None:
            self.opening = False
            self.openingChanged.emit(False)
            orphan.release()
            self.error(f"Could not restore the autosave: {message} (it is kept in {orphan.folder})")

        def done(value) -> None:
            try:
                self._restored(orphan, *value)
            except Exception as e:  # noqa: BLE001 - a broken autosave must not take the editor down
                failed(str(e) or type(e).__name__)
                return
            if on_done is not None:
                on_done(self.doc)

        self.client.submit(
            "restore", jobs.restore_autosave, str(orphan.folder), on_done=done, on_error=failed
        )

    def _restored(self, orphan, res, infos) -> None:
        for info in infos:
            self.refs[info.path] = info
            self.remember_reference(info)
            self.last_ref = info
        h = res.history
        doc = Document(res.prepared, h.base, res.source)
        doc.session_path = res.session_path
        doc.photo_sha256 = res.photo_sha256
        self.undo_stack.clear()
        self.undo_stack.rebuild(doc, h.ops, h.index)
        if not doc.state.same_as(h.state):
            raise RuntimeError("the replayed history does not give the saved state")
        self.opening = False
        self.doc = doc
        doc.subscribe(self._doc_changed)
        self.result, self.result_id, self.preview, self.pending_free = None, 0, None, None
        self.openingChanged.emit(False)
        self.documentOpened.emit()
        self.request_render()
        if self.autosave is not None:
            self.autosave.attach(doc, self.undo_stack, self.ref_entry, write_now=True)
        orphan.remove()
        note = f" Note: {res.note}." if res.note else ""
        self.status.emit(f"Restored {res.title} with {self.undo_stack.count()} undo steps.{note}")
