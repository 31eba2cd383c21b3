"""Measures of a reshape on a real photo (engine.reshape_metrics): detail kept, seams."""

from __future__ import annotations

from types import SimpleNamespace

import cv2
import numpy as np

from engine.reshape_metrics import reshape_measures

S = 160


def _disc(r: int) -> np.ndarray:
    m = np.zeros((S, S), np.uint8)
    cv2.circle(m, (S // 2, S // 2), r, 1, -1)
    return m


def _textured(label: np.ndarray, seed: int = 0) -> np.ndarray:
    """Class 1 grey with a fine texture that fades towards its edge (a lip: soft at its border), on a
    flat backdrop."""
    rng = np.random.default_rng(seed)
    depth = cv2.distanceTransform(label, cv2.DIST_L2, 3)
    amp = np.clip(depth / 8.0, 0.0, 1.0) * 25.0
    img = np.where(label == 1, 120 + amp * rng.standard_normal((S, S)), 200.0)
    return np.repeat(np.clip(img, 0, 255)[..., None], 3, -1).astype(np.uint8)


def _prep(old: np.ndarray, photo: np.ndarray):
    """The PreparedImage parts reshape_measures reads, for a crop that is the photo itself."""
    return SimpleNamespace(parsed_mask=old, photo=SimpleNamespace(rgb=photo), mask_in_photo=lambda m: m)


def test_a_painted_rim_has_no_detail_and_a_grown_one_keeps_it():
    old, new = _disc(30), _disc(40)
    photo = _textured(old)
    prep = _prep(old, photo)
    like = reshape_measures(prep, new, _textured(new, seed=1))  # grown as the photo's own region is made
    flat = _textured(new, seed=1)
    flat[(new == 1) & (old == 0)] = 120  # the rim painted flat
    painted = reshape_measures(prep, new, flat)
    assert like["detail_ratio"] > 0.5, like
    assert painted["detail_ratio"] < 0.2, painted


def test_a_cut_along_a_reshape_shows_as_a_seam():
    old = np.zeros((S, S), np.uint8)
    old[:, : S // 2] = 1
    new = old.copy()
    new[:, S // 2 : S // 2 + 20] = 1  # the class grown by a band
    rng = np.random.default_rng(2)
    photo = np.repeat((120 + 10 * rng.standard_normal((S, S, 1))).clip(0, 255), 3, -1).astype(np.uint8)
    photo[new == 0] = 200
    prep = _prep(old, photo)
    smooth = photo.copy()
    cut = photo.copy()
    cut[new.astype(bool) & (old == 0)] = 160  # the grown band in another shade: an edge where none is
    assert reshape_measures(prep, new, cut)["seam_ratio"] > 2 * reshape_measures(prep, new, smooth)["seam_ratio"]
