"""Camera and lens simulation for the photo variant of the synthetic corpus (see ``synth_photo``).

The steps follow a real capture pipeline in order: the lens (lateral chromatic aberration, a little
defocus, vignetting), the sensor (signal-dependent shot noise plus read noise), the image processor
(white balance / colour cast, exposure, a tone curve, saturation, sharpening) and finally what happens
to photos on the web (downscaling and upscaling, JPEG re-encoding). Every step is randomised and on
with its own probability; all randomness comes from the ``numpy.random.Generator`` passed in.
"""

from __future__ import annotations

import cv2
import numpy as np

from training.data.synth_photo_bg import normal_noise

__all__ = ["CAMERA_PROB", "lens", "sensor_noise", "develop", "degrade"]

#: Probability of each camera step.
CAMERA_PROB = {
    "aberration": 0.4,
    "lens_blur": 0.45,
    "vignette": 0.5,
    "noise": 0.8,
    "saturation": 0.6,
    "white_balance": 0.85,
    "tone": 0.85,
    "sharpen": 0.35,
    "resample": 0.4,
    "jpeg": 0.8,
}

_R2: dict[int, np.ndarray] = {}


def _radius2(size: int) -> np.ndarray:
    """Squared distance from the centre, 1 at the corners (cached per size, read-only)."""
    r2 = _R2.get(size)
    if r2 is None:
        c = (np.arange(size, dtype=np.float32) - (size - 1) / 2) / (size / 2)
        r2 = (c[None, :] ** 2 + c[:, None] ** 2) * 0.5
        r2.setflags(write=False)
        _R2[size] = r2
    return r2


def lens(rng: np.random.Generator, img: np.ndarray, ops: list) -> np.ndarray:
    """Lateral chromatic aberration, defocus and vignetting on float RGB ``img`` (H, W, 3)."""
    S = img.shape[0]
    if rng.random() < CAMERA_PROB["aberration"]:
        k = rng.uniform(0.0015, 0.006) * rng.choice([-1.0, 1.0])
        c = (S - 1) / 2
        for ch, kk in ((0, k), (2, -k)):  # red and blue magnified in opposite directions
            m = np.array([[1 + kk, 0, -c * kk], [0, 1 + kk, -c * kk]], np.float32)
            img[..., ch] = cv2.warpAffine(
                np.ascontiguousarray(img[..., ch]),
                m,
                (S, S),
                flags=cv2.INTER_LINEAR,
                borderMode=cv2.BORDER_REFLECT,
            )
        ops.append("aberration")
    if rng.random() < CAMERA_PROB["lens_blur"]:
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.3, 0.9) * S / 256)
        ops.append("lens_blur")
    if rng.random() < CAMERA_PROB["vignette"]:
        k = rng.uniform(0.1, 0.5)
        img *= (1.0 - k * _radius2(S) ** rng.uniform(0.8, 1.6))[..., None]
        ops.append("vignette")
    return img


def sensor_noise(rng: np.random.Generator, img: np.ndarray, ops: list) -> np.ndarray:
    """Shot noise (variance proportional to the signal) plus read noise, partly shared by the channels."""
    if rng.random() >= CAMERA_PROB["noise"]:
        return img
    shot = float(np.exp(rng.uniform(np.log(1e-4), np.log(1.5e-3))))
    read = rng.uniform(0.002, 0.01)
    sd = cv2.sqrt(cv2.max(img, 0.0) * np.float32(shot) + np.float32(read * read))
    S = img.shape[0]
    n = cv2.merge([np.ascontiguousarray(normal_noise(rng, S, S)) for _ in range(3)])
    if rng.random() < 0.6:  # luminance-heavy noise, as after demosaicing and colour processing
        w = rng.uniform(0.4, 0.8)
        mix = np.eye(3, dtype=np.float32) * (1.0 - w) + np.float32(w * 1.7 / 3)
        n = cv2.transform(n, mix)
    if rng.random() < 0.4:  # demosaicing correlates neighbouring pixels
        n = cv2.GaussianBlur(n, (0, 0), rng.uniform(0.4, 0.8)) * 1.6
    ops.append("noise")
    img += n * sd
    return img


def develop(rng: np.random.Generator, img: np.ndarray, ops: list) -> np.ndarray:
    """Float RGB -> uint8 through saturation, white balance / cast, exposure and a tone curve."""
    if rng.random() < CAMERA_PROB["saturation"]:
        g = img.mean(axis=2, keepdims=True)
        img = g + (img - g) * rng.uniform(0.65, 1.35)
        ops.append("saturation")
    u8 = cv2.convertScaleAbs(img, alpha=255.0)
    x = np.arange(256, dtype=np.float32) / 255.0
    gains = np.ones(3, np.float32)
    if rng.random() < CAMERA_PROB["white_balance"]:
        t, tint = rng.normal(0.0, 0.07), rng.normal(0.0, 0.025)  # colour temperature, green-magenta
        gains = np.array([1.0 + t, 1.0 + tint, 1.0 - t], np.float32)
        gains *= np.exp(rng.normal(0.0, 0.03, 3)).astype(np.float32)  # a free colour cast
        ops.append("white_balance")
    y = np.clip(x[:, None] * gains[None, :], 0.0, 1.0)
    if rng.random() < CAMERA_PROB["tone"]:
        y = np.clip(y * 2.0 ** rng.normal(0.0, 0.3), 0.0, 1.0)  # exposure
        c = rng.uniform(0.0, 0.65)  # S-curve: contrast of real photos exceeds the plain render's
        y = y - c * np.sin(2 * np.pi * y) / (2 * np.pi)
        y = y ** rng.uniform(0.8, 1.25)  # gamma
        lo, hi = rng.uniform(0.0, 0.04), rng.uniform(0.96, 1.0)  # black lift, highlight roll-off
        y = lo + (hi - lo) * y
        ops.append("tone")
    lut = np.clip(y * 255.0 + 0.5, 0, 255).astype(np.uint8).reshape(1, 256, 3)
    return cv2.LUT(u8, lut)


def degrade(rng: np.random.Generator, u8: np.ndarray, ops: list) -> np.ndarray:
    """Sharpening, a resolution change and JPEG re-encoding of a uint8 RGB image."""
    S = u8.shape[0]
    if rng.random() < CAMERA_PROB["sharpen"]:
        soft = cv2.GaussianBlur(u8, (0, 0), rng.uniform(0.7, 1.5))
        a = rng.uniform(0.2, 0.7)
        u8 = cv2.addWeighted(u8, 1.0 + a, soft, -a, 0.0)
        ops.append("sharpen")
    if rng.random() < CAMERA_PROB["resample"]:
        f = rng.uniform(0.35, 0.85)
        small = cv2.resize(u8, (max(8, int(S * f)),) * 2, interpolation=cv2.INTER_AREA)
        u8 = cv2.resize(
            small, (S, S), interpolation=(cv2.INTER_LINEAR, cv2.INTER_CUBIC)[int(rng.integers(2))]
        )
        ops.append("resample")
    if rng.random() < CAMERA_PROB["jpeg"]:
        q = int(rng.integers(30, 96))
        ok, buf = cv2.imencode(".jpg", u8[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, q])
        if ok:  # encode as BGR so the chroma planes are OpenCV's YCrCb of the real colours
            u8 = np.ascontiguousarray(cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1])
            ops.append("jpeg")
    return u8
