"""The main window's crash-recovery side: the restore question at launch, autosave and device messages."""

from __future__ import annotations

import os

from PySide6.QtWidgets import QMessageBox

from editor.autosave import find_orphans


class RestorePrompt:
    """Mixed into editor.mainwindow.MainWindow (expects ``autosave``, ``ctl``, ``status``, ``show_error``)."""

    def _autosave_failed(self, message: str) -> None:
        self.show_error(message)

    def _device_fallback(self, label: str, message: str) -> None:
        if label:
            self.status.set_device(label)
        self.show_error(message)

    def _ask_restore(self, orphan) -> str:
        box = QMessageBox(
            QMessageBox.Icon.Question, "FacePaint", "FacePaint did not close properly last time.", parent=self
        )
        box.setInformativeText(f"Restore the unsaved edits to {orphan.describe()}?")
        restore = box.addButton("Restore", QMessageBox.ButtonRole.AcceptRole)
        discard = box.addButton("Discard", QMessageBox.ButtonRole.DestructiveRole)
        box.addButton("Later", QMessageBox.ButtonRole.RejectRole)
        box.exec()
        clicked = box.clickedButton()
        return "restore" if clicked is restore else "discard" if clicked is discard else "later"

    def offer_restore(self, on_done=None) -> bool:
        """Offer to restore the newest orphaned autosave. ``$FACEPAINT_RESTORE`` (yes | no | later)
        answers without asking. True when a restore started."""
        if self.autosave is None:
            return False
        orphans = find_orphans(self.autosave.root, exclude=self.autosave.folder)
        if not orphans:
            return False
        newest = orphans[0]
        for o in orphans[1:]:
            o.release()
        env = os.environ.get("FACEPAINT_RESTORE", "").strip().lower()
        answer = {"yes": "restore", "no": "discard", "later": "later"}.get(env) or self.ask_restore(newest)
        if answer == "restore":
            self.ctl.restore_autosave(newest, on_done=on_done)
            return True
        if answer == "discard":
            newest.remove()
        else:
            newest.release()
        return False
