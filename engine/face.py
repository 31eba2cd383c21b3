"""Find the face in a photo and cut the model's square crop, keeping the affine for paste-back.

The crop follows the CelebA-HQ / FFHQ recipe: the crop side is 4× the eye distance (or 3.6× the
eye-to-mouth distance when that is larger and a mouth is known), centred a little below the eyes, with the
eye line level. So the face sits in the middle with the eyes at about 47% of the height, hair on top and
some neck below. Without eyes (a bare face box) the crop is estimated from the box with no rotation.

Backends live in :mod:`engine.face_detectors`. ``detector="auto"`` uses, in order: the network named by
``weights`` (``.onnx`` -> YuNet, a ``.pth`` file -> RetinaFace, a folder with ``pnet.pt`` -> MTCNN), else
OpenCV's Haar cascades when this OpenCV has them, then the built-in skin-colour heuristic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from engine import face_detectors as fd
from engine.composite import compose_affine, crop_footprint, warp_affine
from engine.face_detectors import DetectorUnavailable

__all__ = [
    "DETECTORS",
    "Alignment",
    "DetectorUnavailable",
    "crop_with_matrix",
    "detect_and_align",
    "manual_alignment",
    "whole_image_alignment",
]

DETECTORS = ("auto", "haar", "skin", "mtcnn", "retinaface", "yunet")

#: Eye distance as a fraction of the crop side, and how far below the eye midpoint (in eye distances)
#: the crop centre lies. Eyes land at y = 0.5 - EYE_TO_CENTRE * EYE_DISTANCE ~ 0.441 of the side.
#: These match the framing of the corpus our bundled networks are trained on (median over 300 rendered
#: faces: eye distance 0.173 of the side, eye line at 0.441), so a photo's crop looks like training data.
EYE_DISTANCE = 0.173
EYE_TO_CENTRE = 0.341
#: Face-box geometry (fractions of the box) for boxes without eyes: eye line height and eye distance.
BOX_EYE_Y = 0.40
BOX_EYE_DIST = 0.40


@dataclass
class Alignment:
    """A square crop of the photo and the affine that made it."""

    crop: np.ndarray  # uint8 size×size×3
    matrix: np.ndarray  # 2×3 float64, photo -> crop
    inverse: np.ndarray  # 2×3 float64, crop -> photo
    found: bool
    status: str
    method: str
    size: int
    box: tuple[float, float, float, float] | None = None  # detected face box (x, y, w, h), photo px
    eyes: np.ndarray | None = field(default=None, repr=False)  # 2×2 eye centres in photo px

    @classmethod
    def from_matrix(
        cls,
        photo_rgb: np.ndarray,
        matrix: np.ndarray,
        size: int,
        *,
        found: bool = True,
        method: str = "saved",
        status: str = "",
        box=None,
        eyes=None,
    ) -> Alignment:
        """Rebuild an alignment (crop and inverse) from a photo and a photo -> crop matrix."""
        rgb = _check_rgb(photo_rgb)
        size = _check_size(size)
        m = np.asarray(matrix, np.float64)
        if m.shape != (2, 3) or not np.isfinite(m).all() or abs(np.linalg.det(m[:, :2])) < 1e-12:
            raise ValueError(f"alignment matrix must be a finite, invertible 2×3 affine, got {m.tolist()}")
        return cls(
            crop=crop_with_matrix(rgb, m, size),
            matrix=m.copy(),
            inverse=cv2.invertAffineTransform(m).astype(np.float64),
            found=found,
            status=status,
            method=method,
            size=size,
            box=box,
            eyes=eyes,
        )

    def to_crop(self, xy) -> np.ndarray:
        """Photo points (N×2) -> crop points."""
        p = np.asarray(xy, np.float64).reshape(-1, 2)
        return p @ self.matrix[:, :2].T + self.matrix[:, 2]

    def to_photo(self, xy) -> np.ndarray:
        """Crop points (N×2) -> photo points."""
        p = np.asarray(xy, np.float64).reshape(-1, 2)
        return p @ self.inverse[:, :2].T + self.inverse[:, 2]


def _check_rgb(rgb) -> np.ndarray:
    a = np.asarray(rgb)
    if a.ndim != 3 or a.shape[2] != 3 or a.dtype != np.uint8:
        raise ValueError(f"photo must be an H×W×3 uint8 RGB array, got {a.dtype} {a.shape}")
    if min(a.shape[:2]) < 16:
        raise ValueError(f"photo is {a.shape[1]}×{a.shape[0]}, too small to contain a face")
    return a


def _check_size(size) -> int:
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or not 16 <= int(size) <= 4096:
        raise ValueError(f"crop size must be an integer in 16..4096, got {size!r}")
    return int(size)


def crop_with_matrix(rgb: np.ndarray, matrix: np.ndarray, size: int) -> np.ndarray:
    """Warp the photo into a size×size crop, touching only the part of the photo the crop covers."""
    m = np.asarray(matrix, np.float64)
    inverse = cv2.invertAffineTransform(m)
    H, W = rgb.shape[:2]
    scale = math.sqrt(abs(np.linalg.det(m[:, :2])))
    pad = int(math.ceil(3.0 / max(scale, 1e-6))) + 2
    x0, y0, x1, y1 = crop_footprint(inverse, size, (W, H), pad=pad)
    if x1 - x0 < 2 or y1 - y0 < 2:  # the crop lies (almost) entirely outside the photo
        x0, y0, x1, y1 = 0, 0, W, H
    roi_matrix = compose_affine(m, np.array([[1.0, 0.0, x0], [0.0, 1.0, y0]]))
    crop = warp_affine(np.ascontiguousarray(rgb[y0:y1, x0:x1]), roi_matrix, (size, size), border="replicate")
    return np.ascontiguousarray(crop)


def _similarity(center, direction, side: float, size: int) -> np.ndarray:
    """Photo -> crop: ``center`` to the crop centre, ``direction`` to +x, ``side`` photo px to ``size``."""
    d = np.asarray(direction, np.float64)
    c, s = d / max(np.linalg.norm(d), 1e-12)
    k = size / side
    lin = k * np.array([[c, s], [-s, c]])
    mid = (size - 1) / 2.0
    t = np.array([mid, mid]) - lin @ np.asarray(center, np.float64)
    return np.hstack([lin, t[:, None]])


def matrix_from_landmarks(eyes: np.ndarray, size: int, mouth=None) -> np.ndarray:
    """Similarity for two eye centres (image-left first) and an optional mouth centre."""
    eyes = np.asarray(eyes, np.float64).reshape(2, 2)
    e2e = eyes[1] - eyes[0]
    d = float(np.linalg.norm(e2e))
    if d < 1e-6:
        raise ValueError("the two eye positions coincide")
    eye_mid = eyes.mean(0)
    if mouth is None:
        e2m = np.array([-e2e[1], e2e[0]]) * 1.05  # mouth ~1.05 eye distances straight below the eyes
    else:
        e2m = np.asarray(mouth, np.float64) - eye_mid
    direction = e2e + np.array([e2m[1], -e2m[0]])  # average of eye line and (rotated) eye-mouth line
    side = max(d / EYE_DISTANCE, 1.8 * 2 * float(np.linalg.norm(e2m)))
    center = eye_mid + EYE_TO_CENTRE / 1.05 * e2m
    return _similarity(center, direction, side, size)


def matrix_from_box(box, size: int) -> np.ndarray:
    """No-rotation crop for a bare face box (x, y, w, h), using typical eye placement in such boxes."""
    x, y, w, h = (float(v) for v in box)
    d = BOX_EYE_DIST * w
    eye_y = y + BOX_EYE_Y * h
    eyes = np.array([[x + w / 2 - d / 2, eye_y], [x + w / 2 + d / 2, eye_y]])
    return matrix_from_landmarks(eyes, size)


def whole_image_alignment(rgb: np.ndarray, size: int, *, status: str = "whole image") -> Alignment:
    """The centred square of side min(H, W), scaled to size×size."""
    rgb = _check_rgb(rgb)
    size = _check_size(size)
    H, W = rgb.shape[:2]
    m = _similarity(((W - 1) / 2.0, (H - 1) / 2.0), (1.0, 0.0), float(min(H, W)), size)
    return Alignment.from_matrix(rgb, m, size, found=False, method="whole", status=status)


def manual_alignment(
    rgb: np.ndarray, center_xy, box_size: float, size: int, *, angle: float = 0.0
) -> Alignment:
    """A crop the user places: a square of side ``box_size`` photo px centred on ``center_xy``.

    ``angle`` (degrees, counter-clockwise as seen on screen) tilts the square to level a tilted head.
    """
    rgb = _check_rgb(rgb)
    size = _check_size(size)
    cx, cy = (float(v) for v in center_xy)
    box = float(box_size)
    if not (math.isfinite(cx) and math.isfinite(cy) and math.isfinite(box) and box >= 4):
        raise ValueError(
            f"manual crop needs a finite centre and a box of at least 4 px, got {center_xy}, {box_size}"
        )
    a = math.radians(float(angle))
    m = _similarity((cx, cy), (math.cos(a), -math.sin(a)), box, size)
    return Alignment.from_matrix(
        rgb, m, size, found=True, method="manual", status=f"placed by hand ({box:.0f} px box)"
    )


def _auto_kind(weights) -> str:
    p = Path(weights).expanduser()
    if p.suffix.lower() == ".onnx":
        return "yunet"
    if p.is_dir() and (p / "pnet.pt").exists():
        return "mtcnn"
    return "retinaface"


def _run(kind: str, rgb: np.ndarray, weights, device) -> list[fd.FaceHit]:
    if kind == "haar":
        return fd.detect_haar(rgb, weights)
    if kind == "skin":
        return fd.detect_skin(rgb)
    if kind == "mtcnn":
        return fd.detect_mtcnn(rgb, weights, str(device or "cpu"))
    if kind == "retinaface":
        return fd.detect_retinaface(rgb, weights, str(device or "cpu"))
    return fd.detect_yunet(rgb, weights)


def detect_and_align(
    rgb: np.ndarray,
    size: int = 256,
    detector: str = "auto",
    weights: str | Path | None = None,
    device=None,
) -> Alignment:
    """Detect the largest face and return its aligned size×size crop.

    No face -> ``Alignment(found=False, status="no face found: ...")`` holding the whole-image crop.
    A detector that was asked for but cannot run raises :class:`DetectorUnavailable` saying what to
    install or where to put its weights (nothing is downloaded).
    """
    rgb = _check_rgb(rgb)
    size = _check_size(size)
    kind = str(detector).lower()
    if kind not in DETECTORS:
        raise ValueError(f"unknown face detector {detector!r}; choose one of {', '.join(DETECTORS)}")
    notes: list[str] = []
    if kind != "auto":
        chain = [kind]
    elif weights is not None:
        chain = [_auto_kind(weights)]
    else:
        ok, why = fd.haar_status()
        chain = ["haar", "skin"] if ok else ["skin"]
        if not ok:
            notes.append(f"{why}; used the skin-colour fallback")
    hits: list[fd.FaceHit] = []
    used = chain[0]
    for used in chain:
        hits = _run(used, rgb, weights, device)
        if hits:
            break
    note = f" ({'; '.join(notes)})" if notes else ""
    if not hits:
        return whole_image_alignment(
            rgb,
            size,
            status=f"no face found: the {'/'.join(chain)} detector found nothing{note}. "
            "Using the whole image; place the crop by hand if the face is not centred.",
        )
    hit = max(hits, key=lambda h: h.area)
    if hit.eyes is not None:
        m = matrix_from_landmarks(hit.eyes, size, hit.mouth)
        how = "eyes and mouth" if hit.mouth is not None else "eyes"
    else:
        m = matrix_from_box(hit.box, size)
        how = "face box only, eyes not found, no rotation"
    extra = f", {len(hits)} faces, used the largest" if len(hits) > 1 else ""
    return Alignment.from_matrix(
        rgb,
        m,
        size,
        found=True,
        method=used,
        status=f"face found by {used} (aligned from {how}{extra}){note}",
        box=tuple(float(v) for v in hit.box),
        eyes=None if hit.eyes is None else np.asarray(hit.eyes, np.float64),
    )
