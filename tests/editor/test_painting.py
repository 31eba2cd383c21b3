"""Painting through the real canvas and the real FaceEngine (tiny bundle, threaded worker)."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, Qt

from engine.labels import INDEX
from tests.editor.conftest import face_layout, wait_idle
from tests.editor.helpers import click, drag_stroke, stroke_image

HAIR, SKIN, CLOTH = INDEX["hair"], INDEX["skin"], INDEX["cloth"]


def test_open_shows_parsed_mask_status_and_device(opened):
    win = opened
    doc = win.ctl.doc
    assert doc.resolution == 64
    assert np.array_equal(doc.state.mask, face_layout(64))
    assert win.ctl.result is not None and win.ctl.result.shape == (64, 64, 3)
    assert "Opened photo.png" in win.status.last_message
    assert "CPU" in win.status.device.text()
    assert not win.isWindowModified() and "photo.png" in win.windowTitle()


def test_stroke_changes_mask_and_result_as_one_undo_step(opened, qtbot):
    win = opened
    ctl, canvas = win.ctl, win.canvas
    before_mask, before_result = ctl.doc.state.mask.copy(), ctl.result.copy()
    ctl.select_region(HAIR)
    win.toolbar.size.setValue(4)
    stroke_image(canvas, [(20.5, 40.5), (30.5, 40.5), (40.5, 40.5)])
    wait_idle(qtbot, win)
    mask = ctl.doc.state.mask
    assert mask[40, 20] == HAIR and mask[40, 30] == HAIR and mask[40, 40] == HAIR
    assert mask[10, 5] == before_mask[10, 5]
    changed = mask != before_mask
    assert changed.any() and set(np.unique(mask[changed])) == {HAIR}
    assert mask.max() < 19, "every pixel stays a valid class"
    assert not np.array_equal(ctl.result, before_result)
    assert ctl.undo_stack.count() == 1 and win.isWindowModified()


def test_undo_redo_restore_exact_pixels(opened, qtbot):
    win = opened
    ctl = win.ctl
    mask0, res0 = ctl.doc.state.mask.copy(), ctl.result.copy()
    ctl.select_region(CLOTH)
    stroke_image(win.canvas, [(10.5, 20.5), (50.5, 25.5)])
    wait_idle(qtbot, win)
    win.style_panel.random_style()
    wait_idle(qtbot, win)
    mask2, res2 = ctl.doc.state.mask.copy(), ctl.result.copy()
    assert ctl.undo_stack.count() == 2
    win.undo()
    win.undo()
    wait_idle(qtbot, win)
    assert np.array_equal(ctl.doc.state.mask, mask0) and np.array_equal(ctl.result, res0)
    assert not ctl.doc.state.overrides and not win.isWindowModified()
    win.redo()
    win.redo()
    wait_idle(qtbot, win)
    assert np.array_equal(ctl.doc.state.mask, mask2) and np.array_equal(ctl.result, res2)


def test_zoomed_and_panned_strokes_land_on_the_right_pixels(opened, qtbot):
    win = opened
    ctl, canvas = win.ctl, win.canvas
    win.toolbar.size.setValue(1)
    ctl.select_region(INDEX["hat"])
    s_fit = canvas.view.scale
    for _ in range(3):
        canvas.zoom_in()
    canvas.view.pan(-23.0, 17.0)
    assert abs(canvas.view.scale / s_fit - 1.25**3) < 1e-6
    target = (37, 21)
    pos = canvas.image_to_widget(target[0] + 0.5, target[1] + 0.5)
    assert canvas.rect().contains(pos.toPoint())
    click(canvas, pos)
    mask = ctl.doc.state.mask
    changed = np.argwhere(mask != face_layout(64))
    assert mask[target[1], target[0]] == INDEX["hat"]
    assert np.abs(changed - [target[1], target[0]]).max() <= 1, "a 1 px brush touches only its neighbourhood"
    # the right-hand (result) pane of the side-by-side view maps to the same pixels
    win.set_mode("side")
    canvas.fit()
    v = canvas.view
    v.zoom_by(1.5, 1.5 * v.pane_width, v.height / 2)  # zoom around the result pane's centre
    pos = canvas.image_to_widget(10.5, 50.5, pane=1)
    assert v.pane_at(pos.x()) == 1
    click(canvas, pos)
    assert ctl.doc.state.mask[50, 10] == INDEX["hat"]
    # Ctrl+0 / Ctrl+F actions exist and change the zoom
    canvas.actual_size()
    assert canvas.view.scale == 1.0
    canvas.fit()
    assert canvas.view.fitted
    wait_idle(qtbot, win)


def test_wheel_zooms_around_the_cursor_and_space_drag_pans(opened, qtbot):
    win = opened
    canvas = win.canvas
    p = canvas.image_to_widget(32, 32)
    before = canvas.widget_to_image(p)
    qtbot.keyPress(canvas, Qt.Key.Key_Space)
    s0 = canvas.view.scale
    from PySide6.QtCore import QPoint
    from PySide6.QtGui import QWheelEvent
    from PySide6.QtWidgets import QApplication

    ev = QWheelEvent(
        p,
        canvas.mapToGlobal(p),
        QPoint(),
        QPoint(0, 240),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(canvas, ev)
    assert canvas.view.scale > s0
    after = canvas.widget_to_image(p)
    assert abs(after[0] - before[0]) < 1e-6 and abs(after[1] - before[1]) < 1e-6
    ox = canvas.view.ox
    mask_before = win.ctl.doc.state.mask.copy()
    drag_stroke(canvas, [p, p + QPointF(40, 0)])  # space held: pans instead of painting
    qtbot.keyRelease(canvas, Qt.Key.Key_Space)
    assert canvas.view.ox == ox + 40
    assert np.array_equal(win.ctl.doc.state.mask, mask_before)


def test_shape_tools_fill_rect_lasso_eraser_pick(opened, qtbot):
    win = opened
    ctl, canvas, tb = win.ctl, win.canvas, win.toolbar
    parsed = ctl.doc.parsed_mask
    ctl.select_region(INDEX["hat"])
    tb.select_tool("fill")
    click(canvas, canvas.image_to_widget(32.5, 2.5))  # background at the top
    assert (ctl.doc.state.mask[parsed == 0] == INDEX["hat"]).all()
    tb.select_tool("rect")
    ctl.select_region(INDEX["nose"])
    drag_stroke(canvas, [canvas.image_to_widget(2, 2), canvas.image_to_widget(6, 8)])
    assert (ctl.doc.state.mask[2:8, 2:6] == INDEX["nose"]).all() and ctl.doc.state.mask[9, 3] != INDEX["nose"]
    tb.select_tool("lasso")
    ctl.select_region(INDEX["mouth"])
    pts = [(40, 2), (60, 2), (60, 12), (40, 12)]
    for x, y in pts:
        click(canvas, canvas.image_to_widget(x, y))
    qtbot.keyClick(canvas, Qt.Key.Key_Return)
    assert (ctl.doc.state.mask[4:10, 42:58] == INDEX["mouth"]).all()
    tb.select_tool("eraser")
    tb.size.setValue(6)
    stroke_image(canvas, [(32.5, 33.5)])
    assert ctl.doc.state.mask[33, 32] == 0
    tb.restore.setChecked(True)
    stroke_image(canvas, [(32.5, 33.5)])
    assert parsed[33, 32] != 0 and np.array_equal(ctl.doc.state.mask[28:38, 28:38], parsed[28:38, 28:38])
    tb.select_tool("pick")
    click(canvas, canvas.image_to_widget(32.5, 33.5))
    assert ctl.current_label == parsed[33, 32]
    assert win.legend.currentItem() is win.legend.item(ctl.current_label)
    assert ctl.undo_stack.count() == 5
    wait_idle(qtbot, win)


def test_release_reuses_the_last_preview_render(opened, qtbot):
    win = opened
    client, canvas = win.client, win.canvas
    calls = []
    real = client.request_render
    client.request_render = lambda *a, **k: calls.append(1) or real(*a, **k)
    from PySide6.QtCore import QEvent

    from tests.editor.helpers import L, _send

    p0, p1 = canvas.image_to_widget(12.5, 50.5), canvas.image_to_widget(40.5, 50.5)
    _send(canvas, QEvent.Type.MouseButtonPress, p0, L, L)
    _send(canvas, QEvent.Type.MouseMove, p1, Qt.MouseButton.NoButton, L)
    previews = len(calls)
    assert previews == 2
    _send(canvas, QEvent.Type.MouseButtonRelease, p1, L, Qt.MouseButton.NoButton)
    assert len(calls) == previews, "the committed state equals the last preview: no second render"
    assert win.ctl.undo_stack.count() == 1
    wait_idle(qtbot, win)
    assert win.ctl.result_is_current
