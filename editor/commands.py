"""QUndoCommands over the edit operations of ``engine.history``. One stroke, fill, transfer or slider
release = one command.

Mask edits keep only the touched box, compressed (``history.CompactDelta``); style edits the old and new
overrides; settings the old and new values. Replaying them is exact, so undo restores the exact prior
render. ``HistoryStack`` is a QUndoStack with a history limit that mirrors its commands in a Python list
and tells a listener (the autosave) about every push, undo and redo.
"""

from __future__ import annotations

from PySide6.QtGui import QUndoCommand, QUndoStack

from editor.document import Document
from engine.history import HISTORY_LIMIT, CompactDelta, FreeOp, MaskOp, Op, SettingsOp, StyleOp
from engine.maskops import MaskDelta
from engine.session import FreeRegion, Override


class OpCommand(QUndoCommand):
    """Applies one history operation to the document (redo) or takes it back (undo)."""

    def __init__(self, doc: Document, op: Op):
        super().__init__(op.text)
        self.doc = doc
        self.op = op

    def redo(self) -> None:
        self.doc.apply_op(self.op, True)

    def undo(self) -> None:
        self.doc.apply_op(self.op, False)


class MaskEditCommand(OpCommand):
    def __init__(self, doc: Document, delta: MaskDelta, text: str):
        super().__init__(doc, MaskOp(text, CompactDelta.from_delta(delta)))


class OverrideCommand(OpCommand):
    """Set the style overrides of one or more regions; ``changes`` maps region -> (old, new)."""

    def __init__(self, doc: Document, changes: dict[int, tuple[Override | None, Override | None]], text: str):
        super().__init__(doc, StyleOp(text, [(r, old, new) for r, (old, new) in changes.items()]))


class SettingsCommand(OpCommand):
    """Harmoniser, alpha or composite mode: old and new values of the changed keys."""

    def __init__(self, doc: Document, old: dict, new: dict, text: str):
        super().__init__(doc, SettingsOp(text, old, new))


class FreeRegionCommand(OpCommand):
    """Add or clear free-form stylised regions: the tuple before and after."""

    def __init__(self, doc: Document, old: tuple[FreeRegion, ...], new: tuple[FreeRegion, ...], text: str):
        super().__init__(doc, FreeOp(text, old, new))


class HistoryStack(QUndoStack):
    """The editor's undo stack: at most ``limit`` steps; ``ops`` mirrors the commands, bottom first."""

    def __init__(self, parent=None, limit: int = HISTORY_LIMIT):
        super().__init__(parent)
        self.setUndoLimit(limit)
        self.commands: list[OpCommand] = []
        self.base = None  # the EditState below the oldest command (set by reset(); kept up to date)
        self.listener = None  # has pushed(cmd), undone(), redone()

    @property
    def ops(self) -> list[Op]:
        return [c.op for c in self.commands]

    def push(self, cmd: OpCommand) -> None:
        at = self.index()
        super().push(cmd)
        del self.commands[at:]
        self.commands.append(cmd)
        excess = len(self.commands) - self.count()
        if excess > 0:  # QUndoStack dropped its oldest commands to keep the limit
            for old in self.commands[:excess]:
                if self.base is not None:
                    self.base = old.op.transform(self.base, True)
            del self.commands[:excess]
        if self.listener is not None:
            self.listener.pushed(cmd)

    def undo(self) -> None:
        if self.canUndo():
            super().undo()
            if self.listener is not None:
                self.listener.undone()

    def redo(self) -> None:
        if self.canRedo():
            super().redo()
            if self.listener is not None:
                self.listener.redone()

    def clear(self) -> None:
        super().clear()
        self.commands.clear()
        self.base = None

    def reset(self, base) -> None:
        """Empty the stack for a document now at state ``base``."""
        self.clear()
        self.base = base

    def rebuild(self, doc: Document, ops: list[Op], index: int) -> None:
        """Fill an empty stack with ``ops`` (the document must be at the state below them), then undo
        down to ``index``. The listener is not told (this is a restore, not an edit)."""
        listener, self.listener = self.listener, None
        try:
            self.reset(doc.state)
            for op in ops:
                self.push(OpCommand(doc, op))
            while self.index() > index:
                self.undo()
        finally:
            self.listener = listener

    @property
    def nbytes(self) -> int:
        """Approximate memory held by the history (for the soak benchmark)."""
        return sum(c.op.nbytes for c in self.commands)
