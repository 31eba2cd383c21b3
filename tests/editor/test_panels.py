"""Legend, shortcuts, file drops and recent files through the real window."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QApplication

from engine.labels import INDEX
from tests.editor.conftest import wait_idle


def test_number_keys_select_regions_and_brackets_resize(opened, qtbot):
    win = opened
    win.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is win)
    win.canvas.setFocus()
    qtbot.keyClick(win.canvas, Qt.Key.Key_3)
    assert win.ctl.current_label == 3 and win.style_panel.title.text() == "Glasses"
    qtbot.keyClick(win.canvas, Qt.Key.Key_3, Qt.KeyboardModifier.AltModifier)
    assert win.ctl.current_label == INDEX["hair"]
    assert win.legend.currentItem() is win.legend.item(INDEX["hair"])
    size = win.ctl.brush_size
    qtbot.keyClick(win.canvas, Qt.Key.Key_BracketRight)
    assert win.ctl.brush_size > size
    qtbot.keyClick(win.canvas, Qt.Key.Key_E)
    assert win.toolbar.current_tool.name == "eraser"


def test_legend_visibility_and_hover_highlight(opened):
    win = opened
    legend, canvas = win.legend, win.canvas
    hair = legend.item(INDEX["hair"])
    assert canvas.overlay_at(32.5, 4.5)[3] == 255  # hair at the top is tinted
    hair.setCheckState(0, Qt.CheckState.Unchecked)
    assert not canvas.visible[INDEX["hair"]] and canvas.overlay_at(32.5, 4.5)[3] == 0
    legend.itemEntered.emit(legend.item(INDEX["nose"]), 0)
    assert canvas.highlight == INDEX["nose"]
    img = canvas._highlight_image((INDEX["nose"],))
    nose = win.ctl.doc.state.mask == INDEX["nose"]
    alpha = np.array([[img.pixelColor(x, y).alpha() for x in range(64)] for y in range(64)])
    assert (alpha[nose] > 0).all() and (alpha[~nose] == 0).all()
    legend.leaveEvent(None)
    assert canvas.highlight is None


def test_dropping_a_photo_file_on_the_window_opens_it(window, qtbot, photo, ref_photo):
    win = window
    md = QMimeData()
    md.setUrls([QUrl.fromLocalFile(str(ref_photo))])
    ev = QDropEvent(
        QPointF(50, 50),
        Qt.DropAction.CopyAction,
        md,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    win.dropEvent(ev)
    qtbot.waitUntil(lambda: win.ctl.doc is not None, timeout=20000)
    assert win.ctl.doc.source.name == "reference.png"
    win.open_path(photo)
    qtbot.waitUntil(lambda: win.ctl.doc.source.name == "photo.png", timeout=20000)
    wait_idle(qtbot, win)
    names = [a.text() for a in win.recent_menu.actions()]
    assert names[:2] == ["photo.png", "reference.png"]
    assert "Open Recent" in win.canvas.welcome_hint
