import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import maskops
from engine.labels import NUM_CLASSES


def _mask():
    m = np.zeros((64, 64), np.uint8)
    m[16:48, 16:48] = 1
    m[20:28, 30:40] = 13
    return m


def test_brush_is_hard_edged_and_delta_round_trips():
    m = _mask()
    d = maskops.brush(m, [(10, 10), (50, 40)], 3, 13)
    new = d.apply(m)
    assert set(np.unique(new)) <= {0, 1, 13}
    assert (new != m).sum() > 50
    assert np.array_equal(d.revert(new), m)
    y0, y1, x0, x1 = d.box
    assert d.before.shape == (y1 - y0, x1 - x0)


def test_brush_only_label_limits_the_stroke():
    m = _mask()
    d = maskops.brush(m, [(0, 32), (63, 32)], 4, 5, only_label=1)
    new = d.apply(m)
    assert np.all(new[m != 1] == m[m != 1])
    assert (new == 5).sum() > 0


def test_fill_polygon_rectangle():
    m = _mask()
    f = maskops.flood_fill(m, 17, 17, 2).apply(m)
    assert np.all(f[m == 1] == 2) and np.all(f[m == 13] == 13)
    p = maskops.polygon(m, [(0, 0), (10, 0), (0, 10)], 4).apply(m)
    assert p[1, 1] == 4 and p[9, 9] == 0
    r = maskops.rectangle(m, 60, 60, 100, 100, 7).apply(m)
    assert np.all(r[60:, 60:] == 7)


@pytest.mark.parametrize(
    "call",
    [
        lambda m: maskops.brush(m, [(1, 1)], 3, 19),
        lambda m: maskops.brush(m, [(1, 1)], -1, 2),
        lambda m: maskops.brush(m, [], 3, 2),
        lambda m: maskops.brush(m, [(float("nan"), 1)], 3, 2),
        lambda m: maskops.polygon(m, [(1, 1), (2, 2)], 2),
        lambda m: maskops.flood_fill(m, 100, 5, 2),
        lambda m: maskops.brush(m, [(1, 1)], 3, True),
    ],
)
def test_bad_arguments_raise_maskoperror(call):
    with pytest.raises(maskops.MaskOpError):
        call(_mask())


@settings(max_examples=60, deadline=None)
@given(
    pts=st.lists(st.tuples(st.floats(-100, 200), st.floats(-100, 200)), min_size=1, max_size=6),
    radius=st.floats(0.5, 30),
    label=st.integers(0, NUM_CLASSES - 1),
)
def test_brush_property_valid_labels_and_exact_revert(pts, radius, label):
    m = _mask()
    d = maskops.brush(m, pts, radius, label)
    new = d.apply(m)
    assert new.dtype == np.uint8 and new.max() < NUM_CLASSES
    assert np.array_equal(d.revert(new), m)


@pytest.mark.parametrize(
    "call",
    [
        lambda m: maskops.flood_fill(m, float("inf"), 1, 2),
        lambda m: maskops.flood_fill(m, float("nan"), 1, 2),
        lambda m: maskops.flood_fill(m, "a", 1, 2),
        lambda m: maskops.brush(m, [1, 2, 3], 3, 2),
        lambda m: maskops.brush(m, [(1, 2, 3)], 3, 2),
        lambda m: maskops.polygon(m, [("a", "b"), (1, 1), (2, 2)], 2),
    ],
)
def test_non_finite_and_malformed_points_raise_maskoperror(call):
    with pytest.raises(maskops.MaskOpError):
        call(_mask())


def test_warp_labels_enlarges_without_staircase_and_comes_back():
    import cv2

    from engine.maskops import warp_labels

    m = np.zeros((64, 64), np.uint8)
    cv2.circle(m, (32, 32), 20, 13, -1)
    a = np.array([[8.0, 0, 30], [0, 8.0, 20]])
    big = warp_labels(m, a, (600, 560))
    assert big.shape == (560, 600) and big[0, 0] == 0 and big[20 + 8 * 32, 30 + 8 * 32] == 13
    # along the circle's edge the boundary moves smoothly: no run of 8 equal columns (an enlarged pixel)
    rows = np.nonzero((big == 13).any(1))[0]
    left = np.array([np.argmax(big[r] == 13) for r in rows[40:-40]])
    steps = np.abs(np.diff(left))
    assert steps.max() <= 3, "the edge jumps by whole enlarged pixels"
    back = warp_labels(big, cv2.invertAffineTransform(a), (64, 64))
    assert (back == m).mean() > 0.98  # a smooth round trip: only edge pixels may move
