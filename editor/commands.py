"""The editor's undo wrapping: one QUndoCommand per ``engine.history`` operation (one stroke, fill,
transfer or slider release = one command), the same operations the headless session and the autosave
journal record. Replaying them is exact, so undo restores the exact prior render.
"""

from __future__ import annotations

from PySide6.QtGui import QUndoCommand, QUndoStack

from editor.document import Document
from engine.history import HISTORY_LIMIT, CompactDelta, MaskOp, Op, base_of
from engine.maskops import MaskDelta


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
    """A stroke, fill or shape: the touched box of the mask, compressed."""

    def __init__(self, doc: Document, delta: MaskDelta, text: str):
        super().__init__(doc, MaskOp(text, CompactDelta.from_delta(delta)))


class HistoryStack(QUndoStack):
    """The editor's undo stack: QUndoStack itself holds the steps (at most ``limit``); ``commands``,
    ``ops`` and ``base`` are read from it, so nothing runs beside it. A listener (the autosave) is told
    about every push, undo and redo."""

    def __init__(self, parent=None, limit: int = HISTORY_LIMIT):
        super().__init__(parent)
        self.setUndoLimit(limit)
        self._empty_base = None  # the state of a document whose stack is empty (set by reset())
        self._base = None  # (oldest command, the state below it), see `base`
        self.listener = None  # has pushed(cmd), undone(), redone()

    @property
    def commands(self) -> list[OpCommand]:
        return [self.command(i) for i in range(self.count())]

    @property
    def ops(self) -> list[Op]:
        return [c.op for c in self.commands]

    @property
    def base(self):
        """The EditState below the oldest step still held (worked out once per oldest step: undoing
        every step is a replay, too slow to repeat on each autosave snapshot)."""
        if self.count() == 0:
            return self._empty_base
        first = self.command(0)
        if self._base is None or self._base[0] is not first:
            self._base = (first, base_of(first.doc.state, self.ops, self.index()))
        return self._base[1]

    def push(self, cmd: OpCommand) -> None:
        super().push(cmd)
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
        self._empty_base = self._base = None

    def reset(self, base) -> None:
        """Empty the stack for a document now at state ``base``."""
        self.clear()
        self._empty_base = base

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
        return sum(op.nbytes for op in self.ops)
