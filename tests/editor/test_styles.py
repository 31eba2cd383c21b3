"""Style edits through the real widgets: gallery drops, legend drops, sliders, random, harmoniser."""

from __future__ import annotations

import cv2
import numpy as np
from PySide6.QtCore import QPointF, Qt

from editor.dnd import reference_mime, reference_path
from engine.labels import FACE_SWAP_CLASSES, INDEX
from tests.editor.conftest import wait_idle
from tests.editor.helpers import drop_reference, stroke_image

HAIR, SKIN, NOSE, NECK = INDEX["hair"], INDEX["skin"], INDEX["nose"], INDEX["neck"]
SHIFT = Qt.KeyboardModifier.ShiftModifier


def _near(region: np.ndarray, px: int = 5) -> np.ndarray:
    k = np.ones((2 * px + 1, 2 * px + 1), np.uint8)
    return cv2.dilate(region.astype(np.uint8), k).astype(bool)


def _gallery_path(win, ref_photo) -> str:
    win.gallery.add_entries([str(ref_photo)])
    paths = win.gallery.paths()
    assert str(ref_photo.resolve()) in paths
    return str(ref_photo.resolve())


def test_drop_thumbnail_on_a_region_changes_only_that_region(opened, qtbot, ref_photo):
    win = opened
    ctl, canvas = win.ctl, win.canvas
    path = _gallery_path(win, ref_photo)
    assert reference_path(reference_mime(path)) == path  # what a thumbnail drag carries
    before = ctl.result.copy()
    hair = ctl.doc.state.mask == HAIR
    accepted_move, accepted_drop = drop_reference(canvas, path, canvas.image_to_widget(32.5, 6.5))
    assert accepted_move and accepted_drop
    wait_idle(qtbot, win)
    ov = ctl.doc.state.override(HAIR)
    assert ov is not None and ov.kind == "reference" and ctl.doc.state.overridden == (HAIR,)
    changed = np.any(ctl.result != before, axis=2)
    assert changed.any(), "the hair region must be regenerated"
    assert not (changed & ~_near(hair)).any(), "pixels away from the hair keep the photo"
    assert ctl.undo_stack.count() == 1 and ctl.undo_stack.undoText().startswith("Transfer")
    assert win.legend.item(HAIR).text(2) == "reference"


def test_shift_drop_is_face_swap_and_legend_drop_transfers(opened, qtbot, ref_photo):
    win = opened
    ctl = win.ctl
    path = _gallery_path(win, ref_photo)
    drop_reference(win.canvas, path, win.canvas.image_to_widget(32, 32), SHIFT)
    wait_idle(qtbot, win)
    present = set(np.unique(ctl.doc.state.mask))
    assert set(ctl.doc.state.overridden) == {r for r in FACE_SWAP_CLASSES if r in present}
    win.undo()
    legend = win.legend
    rect = legend.visualItemRect(legend.item(INDEX["neck"]))
    drop_reference(legend, path, QPointF(rect.center()))  # positions are in viewport coordinates
    wait_idle(qtbot, win)
    assert ctl.doc.state.overridden == (INDEX["neck"],)


def test_sliders_random_and_harmoniser_are_undoable_edits(opened, qtbot, ref_photo):
    win = opened
    ctl, panel = win.ctl, win.style_panel
    ctl.select_region(SKIN)
    r0 = ctl.result.copy()
    # z-space fine-tune: dragging previews, release is one undo step
    panel.tune.setSliderDown(True)
    for v in (5, 10, 15):
        panel.tune.setValue(v)
    assert ctl.undo_stack.count() == 0, "a drag in progress is only a preview"
    panel.tune.setSliderDown(False)
    wait_idle(qtbot, win)
    ov = ctl.doc.state.override(SKIN)
    assert ov.kind == "own" and ov.tune_eta == 1.5 and ctl.undo_stack.count() == 1
    r1 = ctl.result.copy()
    assert not np.array_equal(r0, r1)
    old_seed = ov.tune_seed
    panel.reroll.click()
    wait_idle(qtbot, win)
    assert ctl.doc.state.override(SKIN).tune_seed != old_seed
    # random style (RSM) with a seed
    panel.randomise.click()
    wait_idle(qtbot, win)
    ov = ctl.doc.state.override(SKIN)
    assert ov.kind == "random" and ov.seed == panel.seed.value()
    assert "Random style" in panel.describe.text()
    # nose and neck are drawn with the skin (one RSM group: one skin tone), in the same undo step
    mask = ctl.doc.state.mask
    assert (mask == NOSE).any() and (mask == NECK).any() and (mask == HAIR).any()
    assert ctl.doc.state.override(NOSE) == ov and ctl.doc.state.override(NECK) == ov
    assert ctl.doc.state.override(HAIR) is None
    ctl.undo_stack.undo()
    assert ctl.doc.state.override(SKIN).kind == "own" and ctl.doc.state.override(NOSE) is None
    ctl.undo_stack.redo()
    assert ctl.doc.state.override(NOSE) == ov
    # harmoniser switch and alpha
    panel.harmonizer.setCurrentIndex(2)
    assert ctl.doc.state.harmonizer == "off"
    panel.alpha.setValue(50)
    assert ctl.doc.state.alpha == 0.5
    wait_idle(qtbot, win)
    r_off = ctl.result.copy()
    panel.harmonizer.setCurrentIndex(1)  # MSCA
    wait_idle(qtbot, win)
    assert ctl.doc.state.harmonizer == "msca" and win.error_box is None
    assert ctl.undo_stack.count() == 6
    for index, mode in ((1, "changed"), (2, "raw"), (3, "whole"), (0, "moved")):
        panel.whole.setCurrentIndex(index)
        wait_idle(qtbot, win)
        assert ctl.doc.state.composite == mode and win.error_box is None
    for _ in range(4):
        ctl.undo_stack.undo()
    assert ctl.doc.state.composite == "moved" and ctl.undo_stack.count() == 10
    # interpolation towards the last reference
    path = _gallery_path(win, ref_photo)
    ctl.transfer(path, [HAIR])
    wait_idle(qtbot, win)
    ctl.select_region(SKIN)
    assert panel.interp.isEnabled()
    panel.interp.setValue(40)
    wait_idle(qtbot, win)
    ov = ctl.doc.state.override(SKIN)
    assert ov.kind == "interp" and ov.t == 0.4 and ov.ref == ctl.doc.state.override(HAIR).ref
    # reset restores the photo's own style; undo walks back to the MSCA state exactly
    panel.reset.click()
    assert ctl.doc.state.override(SKIN) is None
    for _ in range(3):
        win.undo()
    win.undo()
    wait_idle(qtbot, win)
    assert ctl.doc.state.harmonizer == "off"
    assert np.array_equal(ctl.result, r_off)


def test_colour_stroke_and_free_region(opened, qtbot, ref_photo):
    win = opened
    ctl, canvas, tb = win.ctl, win.canvas, win.toolbar
    from PySide6.QtGui import QColor

    tb.set_colour(QColor(200, 30, 40))
    assert tb.current_tool.name == "color"
    stroke_image(canvas, [(32.5, 6.5), (40.5, 8.5), (20.5, 30.5)])  # starts on the hair
    wait_idle(qtbot, win)
    ov = ctl.doc.state.override(HAIR)
    assert ov.kind == "color" and ov.rgb == (200, 30, 40) and ctl.doc.state.overridden == (HAIR,)
    tb.select_tool("free")
    path = _gallery_path(win, ref_photo)
    stroke_image(canvas, [(5, 40), (20, 40), (20, 60), (5, 60), (5, 41)])  # freehand lasso
    assert ctl.pending_free is not None and ctl.pending_free[50, 12]
    action, _, text = canvas.drop_target(canvas.image_to_widget(12, 50), Qt.KeyboardModifier.NoModifier)
    assert action == "free" and "outlined" in text
    drop_reference(canvas, path, canvas.image_to_widget(12, 50))
    wait_idle(qtbot, win)
    assert len(ctl.doc.state.free_regions) == 1 and ctl.pending_free is None
    win.undo()
    assert not ctl.doc.state.free_regions
    wait_idle(qtbot, win)
