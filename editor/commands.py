"""QUndoCommands over the document atoms. One stroke, fill, transfer or slider release = one command.

Mask edits store the MaskDelta (only the touched box); style edits store the old and new overrides;
settings store old and new values. Replaying them is exact, so undo restores the exact prior render.
"""

from __future__ import annotations

from PySide6.QtGui import QUndoCommand

from editor.document import Document
from engine.maskops import MaskDelta
from engine.session import FreeRegion, Override


class MaskEditCommand(QUndoCommand):
    def __init__(self, doc: Document, delta: MaskDelta, text: str):
        super().__init__(text)
        self.doc = doc
        self.delta = delta

    def redo(self) -> None:
        self.doc.apply_mask_delta(self.delta, forward=True)

    def undo(self) -> None:
        self.doc.apply_mask_delta(self.delta, forward=False)


class OverrideCommand(QUndoCommand):
    """Set the style overrides of one or more regions; ``changes`` maps region -> (old, new)."""

    def __init__(self, doc: Document, changes: dict[int, tuple[Override | None, Override | None]], text: str):
        super().__init__(text)
        self.doc = doc
        self.changes = dict(changes)

    def redo(self) -> None:
        self.doc.set_overrides({r: new for r, (_, new) in self.changes.items()})

    def undo(self) -> None:
        self.doc.set_overrides({r: old for r, (old, _) in self.changes.items()})


class SettingsCommand(QUndoCommand):
    """Harmoniser, alpha or composite mode: old and new values of the changed keys."""

    def __init__(self, doc: Document, old: dict, new: dict, text: str):
        super().__init__(text)
        self.doc = doc
        self.old = dict(old)
        self.new = dict(new)

    def redo(self) -> None:
        self.doc.set_settings(self.new)

    def undo(self) -> None:
        self.doc.set_settings(self.old)


class FreeRegionCommand(QUndoCommand):
    """Add or clear free-form stylised regions: the tuple before and after."""

    def __init__(self, doc: Document, old: tuple[FreeRegion, ...], new: tuple[FreeRegion, ...], text: str):
        super().__init__(text)
        self.doc = doc
        self.old = tuple(old)
        self.new = tuple(new)

    def redo(self) -> None:
        self.doc.set_free_regions(self.new)

    def undo(self) -> None:
        self.doc.set_free_regions(self.old)
