"""Measures of a reshape on a real photo, where no ground truth exists (photo space, full resolution).

- ``detail_ratio``: inside the reshaped pixels of each class, the high-pass level (robust σ of the
  photo minus its Gaussian blur, σ = 1 px) relative to the same class's own level in the untouched
  photo (at least one grey level), averaged over the classes weighted by their reshaped area. 1 = as
  detailed as the photo's own texture of that region; a flat painted patch scores near 0, speckle
  noise far above 1.
- ``seam_ratio``: along the border between reshaped and untouched pixels *of the same new class* (where
  no edge should be), the mean gradient magnitude relative to that class's mean gradient in the
  untouched photo. 1 = the border is invisible in the gradients; a cut or a smear scores higher.

Both are None when the reshape leaves nothing to measure.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["reshape_measures"]


def _hp(gray: np.ndarray) -> np.ndarray:
    return gray - cv2.GaussianBlur(gray, (0, 0), 1.0)


def _robust(x: np.ndarray) -> float:
    return float(1.4826 * np.median(np.abs(x - np.median(x)))) if len(x) else 0.0


def reshape_measures(prep, new_mask: np.ndarray, result: np.ndarray) -> dict:
    """``prep``: the PreparedImage; ``new_mask``: the reshaped crop-frame label map; ``result``: the
    full-size photo after the reshape."""
    old = prep.mask_in_photo(prep.parsed_mask)
    new = prep.mask_in_photo(np.asarray(new_mask, np.uint8))
    photo = prep.photo.rgb
    reshaped = (old != new) & (new != 255)
    out = {"reshaped_px": int(reshaped.sum()), "detail_ratio": None, "seam_ratio": None}
    if reshaped.sum() < 64:
        return out
    g_res = cv2.cvtColor(np.asarray(result), cv2.COLOR_RGB2GRAY).astype(np.float32)
    g_pho = cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY).astype(np.float32)
    hp_res, hp_pho = _hp(g_res), _hp(g_pho)
    inner_k = np.ones((5, 5), np.uint8)
    ratios, weights = [], []
    for c in np.unique(new[reshaped]):
        region = reshaped & (new == c)
        own = (old == c) & (new == c) & ~reshaped
        own = cv2.erode(own.astype(np.uint8), inner_k) > 0  # the class's interior, away from its edges
        region_in = cv2.erode(region.astype(np.uint8), inner_k) > 0
        if region_in.sum() < 32 or own.sum() < 32:
            continue
        ref = max(_robust(hp_pho[own]), 1.0)  # a flat region (a dark backdrop): one grey level

        ratios.append(_robust(hp_res[region_in]) / ref)
        weights.append(float(region_in.sum()))
    if ratios:
        out["detail_ratio"] = round(float(np.average(ratios, weights=weights)), 3)
    gx = cv2.Sobel(g_res, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(g_res, cv2.CV_32F, 0, 1, ksize=3)
    grad = np.hypot(gx, gy)
    px = cv2.Sobel(g_pho, cv2.CV_32F, 1, 0, ksize=3)
    py = cv2.Sobel(g_pho, cv2.CV_32F, 0, 1, ksize=3)
    grad_p = np.hypot(px, py)
    band_k = np.ones((3, 3), np.uint8)
    border = (cv2.dilate(reshaped.astype(np.uint8), band_k) > 0) & (cv2.erode(reshaped.astype(np.uint8), band_k) == 0)
    seams, sw = [], []
    for c in np.unique(new[reshaped]):
        same = new == c
        inner_same = cv2.erode(same.astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
        band = border & inner_same  # a border inside one class: no edge belongs there
        own = inner_same & ~(cv2.dilate(reshaped.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0)
        if band.sum() < 16 or own.sum() < 32:
            continue
        ref = max(float(grad_p[own].mean()), 1.0)
        seams.append(float(grad[band].mean()) / ref)
        sw.append(float(band.sum()))
    if seams:
        out["seam_ratio"] = round(float(np.average(seams, weights=sw)), 3)
    return out
