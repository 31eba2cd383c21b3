"""Event helpers for driving the real widgets in tests."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QDragMoveEvent, QDropEvent, QMouseEvent
from PySide6.QtWidgets import QApplication

from editor.dnd import reference_mime

L = Qt.MouseButton.LeftButton
NOMOD = Qt.KeyboardModifier.NoModifier


def _send(widget, kind, pos: QPointF, button, buttons, mods=NOMOD):
    gpos = QPointF(widget.mapToGlobal(pos.toPoint()))
    ev = QMouseEvent(kind, pos, gpos, button, buttons, mods)
    QApplication.sendEvent(widget, ev)


def drag_stroke(widget, points, mods=NOMOD):
    """Press at the first point, move through the rest with the left button held, release at the last."""
    pts = [QPointF(*p) if not isinstance(p, QPointF) else p for p in points]
    _send(widget, QEvent.Type.MouseButtonPress, pts[0], L, L, mods)
    for p in pts[1:]:
        _send(widget, QEvent.Type.MouseMove, p, Qt.MouseButton.NoButton, L, mods)
    _send(widget, QEvent.Type.MouseButtonRelease, pts[-1], L, Qt.MouseButton.NoButton, mods)


def click(widget, point, mods=NOMOD):
    drag_stroke(widget, [point], mods)


def stroke_image(canvas, image_points, pane: int = 0):
    """A stroke through image points (continuous coordinates), mapped through the canvas transform."""
    drag_stroke(canvas, [canvas.image_to_widget(x, y, pane) for x, y in image_points])


def drop_reference(widget, path: str, pos: QPointF, mods=NOMOD):
    """What a gallery drag does when it ends over ``widget`` at ``pos``: drag-move, then drop."""
    md = reference_mime(path)
    actions = Qt.DropAction.CopyAction
    move = QDragMoveEvent(pos.toPoint(), actions, md, Qt.MouseButton.LeftButton, mods)
    widget.dragMoveEvent(move)
    drop = QDropEvent(pos, actions, md, Qt.MouseButton.LeftButton, mods)
    widget.dropEvent(drop)
    return move.isAccepted(), drop.isAccepted()
