"""The canvas works in the photo's own pixels: the whole photo is shown, 1:1 at 100 %, and strokes
land where they are drawn on it."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from PySide6.QtCore import QPointF  # noqa: E402

from editor import qimage  # noqa: E402
from engine.labels import INDEX  # noqa: E402
from tests.editor.conftest import wait_idle, write_photo  # noqa: E402
from tests.editor.helpers import drag_stroke  # noqa: E402


def _grab(canvas) -> np.ndarray:
    return qimage.qimage_to_rgb(canvas.grab().toImage())


def test_the_canvas_shows_photo_pixels_one_to_one_at_100_percent(opened):
    win = opened
    canvas = win.canvas
    canvas.set_mode("side")
    canvas.set_overlay_opacity(0.0)
    canvas.actual_size()
    assert canvas.view.scale == 1.0
    photo = win.ctl.doc.prepared.photo.rgb
    h, w = photo.shape[:2]
    x, y, sw, sh = canvas.view.image_rect(0)
    assert (sw, sh) == (w, h) and x == int(x) and y == int(y), "whole pixels at 100 %"
    shot = _grab(canvas)
    shown = shot[int(y) : int(y) + h, int(x) : int(x) + w]
    # the crop's dashed outline is drawn over the photo: leave a band around it out
    outline = np.zeros((h, w), np.uint8)
    corners = np.round(canvas.frame.crop_corners() - 0.5).astype(np.int32)
    cv2.polylines(outline, [corners], True, 1, thickness=5)
    keep = outline == 0
    assert keep.mean() > 0.5
    assert np.array_equal(shown[keep], photo[keep]), "photo pixels are shown unscaled and unfiltered"


def test_the_whole_photo_is_visible_when_fitted_and_its_crop_is_outlined(window, qtbot, tmp_path):
    big = write_photo(tmp_path / "wide.png", 120, 300, seed=3)  # wider than the crop it holds
    window.open_path(big)
    qtbot.waitUntil(lambda: window.ctl.doc is not None, timeout=20000)
    wait_idle(qtbot, window)
    canvas = window.canvas
    canvas.fit()
    x, y, sw, sh = canvas.view.image_rect(0)
    assert (canvas.view.image_w, canvas.view.image_h) == (300, 120)
    assert x >= 0 and y >= 0 and x + sw <= canvas.view.pane_width + 1 and y + sh <= canvas.height() + 1
    corners = canvas.frame.crop_corners()
    assert corners[:, 0].max() - corners[:, 0].min() < 300, "the crop is a part of the photo"


def test_a_stroke_lands_where_it_is_drawn_on_the_photo(opened):
    win = opened
    canvas, ctl = win.canvas, win.ctl
    canvas.set_mode("result")
    canvas.actual_size()
    ctl.select_region(INDEX["hat"])
    frame = canvas.frame
    # a short stroke at a photo point: the mask changes at the crop point that maps there
    px, py = 30.5, 20.5
    cx, cy = frame.photo_to_crop(px, py)
    p = canvas.photo_to_widget(px, py)
    drag_stroke(canvas, [p, p + QPointF(2, 0)])
    mask = ctl.doc.state.mask
    assert mask[int(cy), int(cx)] == INDEX["hat"]
    assert np.allclose(frame.crop_to_photo(cx, cy), (px, py))


def test_a_recolour_arrives_as_a_photo_space_result_layer(opened, qtbot):
    win = opened
    canvas, ctl = win.canvas, win.ctl
    before = canvas.view_updates
    ctl.set_color(INDEX["hair"], (20, 200, 40))
    wait_idle(qtbot, win)
    assert canvas.view_updates > before
    hair = np.argwhere(ctl.doc.state.mask == INDEX["hair"])
    cy, cx = hair[len(hair) // 2]
    px = canvas.result_at(cx + 0.5, cy + 0.5)
    assert px is not None and px[3] == 255, "the recoloured hair is drawn from the result layer"
    bg = np.argwhere(ctl.doc.state.mask == INDEX["background"])
    if len(bg):
        by, bx = bg[0]
        far = canvas.result_at(bx + 0.5, by + 0.5)
        assert far is None or far[3] == 0, "pixels the edit does not reach show the photo itself"


def test_a_photo_is_shown_before_it_is_parsed(window, qtbot, photo):
    shown, opened = [], []
    window.ctl.photoLoaded.connect(lambda got: shown.append((len(opened), got.image.rgb.shape)))
    window.ctl.documentOpened.connect(lambda: opened.append(1))
    window.open_path(photo)
    qtbot.waitUntil(lambda: window.ctl.doc is not None, timeout=20000)
    assert shown and shown[0][0] == 0, "the photo reached the canvas before its document opened"
    assert shown[0][1] == window.ctl.doc.prepared.photo.rgb.shape


def test_on_a_large_photo_the_mask_is_painted_finer_than_the_crop(window, qtbot, tmp_path):
    big = write_photo(tmp_path / "big.png", 400, 400, seed=5)  # several photo pixels per crop pixel
    window.open_path(big)
    qtbot.waitUntil(lambda: window.ctl.doc is not None, timeout=20000)
    wait_idle(qtbot, window)
    canvas, ctl = window.canvas, window.ctl
    doc = ctl.doc
    k = doc.prepared.work_scale
    assert k >= 2 and doc.resolution == k * doc.prepared.parsed_mask.shape[0]
    canvas.set_mode("result")
    canvas.actual_size()
    ctl.select_region(INDEX["hat"])
    ctl.brush_size = 2  # photo pixels: about a third of a crop pixel wide
    frame = canvas.frame
    before = doc.state.mask.copy()
    px, py = 200.5, 150.5
    p = canvas.photo_to_widget(px, py)
    drag_stroke(canvas, [p, p + QPointF(12, 0)])
    painted = np.argwhere((ctl.doc.state.mask == INDEX["hat"]) & (before != INDEX["hat"]))
    assert len(painted), "the stroke painted the working mask"
    # every painted pixel lies within the brush's radius (+ one mask pixel) of the drawn line
    photo_pts = np.array([frame.crop_to_photo(x + 0.5, y + 0.5) for y, x in painted])
    dy = np.abs(photo_pts[:, 1] - py)
    assert dy.max() <= 2.0 + doc.photo_px + 0.01, f"the stroke spreads {dy.max():.1f} photo px off its line"
    assert photo_pts[:, 0].min() >= px - 2.0 - doc.photo_px - 0.01
    wait_idle(qtbot, window)  # the result follows even a stroke under a crop pixel wide
    shown = [canvas.result_at(x + 0.5, y + 0.5) for y, x in painted[:: max(1, len(painted) // 20)]]
    assert sum(px is not None and px[3] == 255 for px in shown) >= 0.5 * len(shown), "the thin stroke shows"


def test_the_overlay_redrawn_stroke_by_stroke_matches_one_drawn_whole():
    from editor.photoframe import PhotoFrame, PhotoOverlay
    from engine import maskops
    from tests.engine.session_fixtures import face_layout

    mask = face_layout(256)
    m = np.array([[0.09, 0.0, -40.0], [0.0, 0.09, -60.0]])  # photo -> mask: 11 photo px per mask px
    for scale in (0.03, 0.125, 0.7):  # fitted (shrinking the mask), zoomed in (enlarging it)
        frame = PhotoFrame((3000, 4000), m, 256, scale)
        live, work = PhotoOverlay(frame), mask.copy()
        live.update(work)
        for i in range(6):
            y = 40 + 30 * i
            work = maskops.brush(work, [(30, y), (200, y + 7)], 3 + i, [13, 1, 18, 17, 0, 4][i]).apply(work)
            live.update(work)
        whole = PhotoOverlay(frame)
        whole.update(work)
        same = (live.labels == whole.labels) & (live.covered == whole.covered)
        # (a few near-ties of two classes' coverage may flip: the warp places pixels in 1/32 px steps
        # counted from the window's corner)
        assert same.mean() > 0.9995, f"at scale {scale}: {(~same).sum()} overlay pixels differ"
