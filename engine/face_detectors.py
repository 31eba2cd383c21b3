"""Face detector backends for :mod:`engine.face`. Each returns a list of :class:`FaceHit` in photo pixels.

- ``haar``: OpenCV's Haar cascades (frontal face + eyes). The cascade files ship with OpenCV 4's
  ``cv2.data.haarcascades``; OpenCV 5 wheels have neither the files nor ``cv2.CascadeClassifier``, so
  this backend says so, and ``auto`` falls back to ``skin``. A folder holding the XML files can be named.
- ``skin``: a built-in heuristic needing no model: skin-colour blobs (YCrCb) that contain two eye-like
  holes at a plausible spacing. Conservative: without two eyes it reports no face.
- ``mtcnn`` (facenet-pytorch), ``retinaface`` (facexlib), ``yunet`` (OpenCV's FaceDetectorYN, ONNX):
  used only when the package is installed and the user names local weights. Nothing is downloaded.

Detection runs on a downscaled copy; fine eye positions come from a small crop of the full photo.
"""

from __future__ import annotations

import functools
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from engine.composite import shrink


class DetectorUnavailable(RuntimeError):
    """The requested detector cannot run here; the message says what to install or where to put what."""


@dataclass
class FaceHit:
    box: tuple[float, float, float, float]  # x, y, w, h in photo pixels
    eyes: np.ndarray | None = None  # 2×2 (x, y), image-left eye first
    mouth: np.ndarray | None = None  # (x, y) mouth centre
    score: float = 1.0

    @property
    def area(self) -> float:
        return float(self.box[2] * self.box[3])


def _downscale(rgb: np.ndarray, max_side: int) -> tuple[np.ndarray, int]:
    """A copy reduced by an integer factor k (INTER_AREA fast path) to at most ~``max_side``, and k.

    Small pixel centre p maps to photo centre (p + 0.5) * k - 0.5 (see :func:`_up`); box edges map by * k.
    """
    k = max(1, int(np.ceil(max(rgb.shape[:2]) / max_side)))
    return shrink(rgb, k)[0], k


def _up(pts, k: float, offset=(0.0, 0.0)) -> np.ndarray:
    """Pixel-centre coordinates in a copy reduced by ``k`` (plus the copy's offset) -> photo pixels."""
    return (np.asarray(pts, np.float64) + 0.5) * k - 0.5 + np.asarray(offset, np.float64)


def _order_eyes(pts: np.ndarray) -> np.ndarray:
    pts = np.asarray(pts, np.float64).reshape(2, 2)
    return pts[np.argsort(pts[:, 0])]


# ------------------------------------------------------------------------------------------------ haar
FACE_CASCADE = "haarcascade_frontalface_default.xml"
EYE_CASCADE = "haarcascade_eye.xml"


def haar_status(folder: str | Path | None = None) -> tuple[bool, str]:
    """(available, explanation) for the Haar backend."""
    if not hasattr(cv2, "CascadeClassifier"):
        return False, (
            f"OpenCV {cv2.__version__} has no Haar cascade support (cv2.CascadeClassifier); "
            "install 'opencv-python-headless<5' for it"
        )
    if folder is None:
        folder = getattr(getattr(cv2, "data", None), "haarcascades", "") or ""
    face = Path(folder) / FACE_CASCADE
    if not face.is_file():
        return False, f"the Haar cascade file {FACE_CASCADE} is not in {folder or '(no folder)'}"
    return True, f"Haar cascades from {folder}"


@functools.lru_cache(maxsize=4)
def _cascades(folder: str):
    face = cv2.CascadeClassifier(str(Path(folder) / FACE_CASCADE))
    eye_path = Path(folder) / EYE_CASCADE
    eye = cv2.CascadeClassifier(str(eye_path)) if eye_path.is_file() else None
    if face.empty():
        raise DetectorUnavailable(f"could not load the Haar cascade {Path(folder) / FACE_CASCADE}")
    return face, (eye if eye is not None and not eye.empty() else None)


def _haar_eyes(rgb: np.ndarray, box, eye_cascade) -> np.ndarray | None:
    """Two eyes inside the upper half of the face box (searched on a 160 px wide crop)."""
    if eye_cascade is None:
        return None
    x, y, w, h = box
    x0, y0 = max(0, int(x)), max(0, int(y + 0.1 * h))
    x1, y1 = min(rgb.shape[1], int(x + w)), min(rgb.shape[0], int(y + 0.6 * h))
    if x1 - x0 < 8 or y1 - y0 < 4:
        return None
    rh = max(4, round((y1 - y0) * 160.0 / (x1 - x0)))
    roi = cv2.resize(rgb[y0:y1, x0:x1], (160, rh), interpolation=cv2.INTER_AREA)
    scale = np.array([(x1 - x0) / 160.0, (y1 - y0) / rh])
    roi = cv2.equalizeHist(cv2.cvtColor(roi, cv2.COLOR_RGB2GRAY))
    hits = eye_cascade.detectMultiScale(roi, scaleFactor=1.1, minNeighbors=3, minSize=(16, 16))
    if len(hits) < 2:
        return None
    centres = np.array([(ex + ew / 2, ey + eh / 2, ew * eh) for ex, ey, ew, eh in hits], np.float64)
    left = centres[centres[:, 0] < 80]
    right = centres[centres[:, 0] >= 80]
    if not len(left) or not len(right):
        return None
    a, b = left[left[:, 2].argmax()], right[right[:, 2].argmax()]
    dx, dy = b[0] - a[0], b[1] - a[1]
    if not (0.2 * 160 <= dx <= 0.75 * 160) or abs(dy) > 0.3 * 160:
        return None
    # box centres are in pixel-edge coordinates: subtract half a pixel for centre coordinates
    return _up(np.array([a[:2], b[:2]]) - 0.5, scale, (x0, y0))


def detect_haar(rgb: np.ndarray, folder: str | Path | None = None) -> list[FaceHit]:
    ok, why = haar_status(folder)
    if not ok:
        raise DetectorUnavailable(why)
    if folder is None:
        folder = cv2.data.haarcascades
    face_c, eye_c = _cascades(str(folder))
    small, k = _downscale(rgb, 480)
    gray = cv2.equalizeHist(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY))
    side = min(gray.shape[:2])
    boxes = face_c.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5, minSize=(max(20, side // 12),) * 2)
    if len(boxes) == 0:
        return []
    hits = []
    for bx, by, bw, bh in boxes:
        box = (bx * k, by * k, bw * k, bh * k)
        eyes = _haar_eyes(rgb, box, eye_c)
        hits.append(FaceHit(box=box, eyes=eyes))
    return hits


# ------------------------------------------------------------------------------------------------ skin
def _skin(rgb: np.ndarray) -> np.ndarray:
    """Skin-colour mask (Chai & Ngan's YCrCb box), lightly cleaned."""
    ycrcb = cv2.cvtColor(rgb, cv2.COLOR_RGB2YCrCb)
    m = cv2.inRange(ycrcb, (40, 133, 77), (255, 173, 127))
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
    return cv2.morphologyEx(m, cv2.MORPH_OPEN, k)


def _eye_pair(rgb_roi: np.ndarray) -> np.ndarray | None:
    """Two eye-like holes in the main skin blob of a face-sized crop, or None."""
    skin = _skin(rgb_roi)
    n, lab, stats, _ = cv2.connectedComponentsWithStats(skin, connectivity=8)
    if n < 2:
        return None
    big = 1 + int(stats[1:, cv2.CC_STAT_AREA].argmax())
    blob = (lab == big).astype(np.uint8)
    bx, by, bw, bh = (int(v) for v in stats[big, :4])
    if bw < 20:
        return None
    contours, _ = cv2.findContours(blob, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    filled = np.zeros_like(blob)
    cv2.drawContours(filled, contours, -1, 1, thickness=cv2.FILLED)
    holes = (filled > 0) & (blob == 0)
    n, hole_lab, st, cen = cv2.connectedComponentsWithStats(holes.astype(np.uint8), connectivity=8)
    gray = cv2.cvtColor(rgb_roi, cv2.COLOR_RGB2GRAY).astype(np.float32)
    face_h = min(bh, 1.5 * bw)
    cx = bx + bw / 2
    cand = []
    for i in range(1, n):
        area = st[i, cv2.CC_STAT_AREA]
        x, y = cen[i]
        if 0.002 * bw * bw <= area <= 0.06 * bw * bw and by + 0.12 * face_h <= y <= by + 0.65 * face_h:
            # An eye holds bright sclera and a dark iris; a brow or a shadow is evenly dark.
            contrast = float(gray[hole_lab == i].std())
            cand.append((x, y, float(area), contrast))
    best, best_key = None, None
    for i in range(len(cand)):
        for j in range(i + 1, len(cand)):
            (xa, ya, aa, ca), (xb, yb, ab, cb) = sorted((cand[i], cand[j]))
            dx, dy = xb - xa, yb - ya
            if not (0.2 * bw <= dx <= 0.7 * bw) or abs(dy) > 0.6 * dx:  # up to ~30° tilt
                continue
            if abs((xa + xb) / 2 - cx) > 0.2 * bw or max(aa, ab) > 4 * min(aa, ab):
                continue
            # Prefer the pair that both look like eyes; then the lower one (eyes sit below the brows).
            key = (min(ca, cb), (ya + yb) / 2)
            if best_key is None or key > best_key:
                best, best_key = np.array([[xa, ya], [xb, yb]]), key
    return best


def detect_skin(rgb: np.ndarray) -> list[FaceHit]:
    small, k = _downscale(rgb, 320)
    skin = _skin(small)
    skin = cv2.morphologyEx(skin, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5)))
    n, _, stats, _ = cv2.connectedComponentsWithStats(skin, connectivity=8)
    H, W = small.shape[:2]
    order = np.argsort(-stats[1:, cv2.CC_STAT_AREA]) + 1 if n > 1 else []
    hits = []
    for i in list(order)[:4]:
        x, y, w, h, area = (int(v) for v in stats[i])
        if area < 0.01 * H * W or area > 0.9 * H * W or w < 12:
            continue
        h = min(h, int(1.5 * w))
        if h < 0.6 * w:
            continue
        # Fine pass on a 160 px wide crop of the full photo around the blob.
        ix0, iy0 = max(0, int((x - 0.1 * w) * k)), max(0, int((y - 0.1 * h) * k))
        ix1 = min(rgb.shape[1], int(np.ceil((x + 1.1 * w) * k)))
        iy1 = min(rgb.shape[0], int(np.ceil((y + 1.1 * h) * k)))
        if ix1 - ix0 < 16 or iy1 - iy0 < 16:
            continue
        rh = max(8, round((iy1 - iy0) * 160.0 / (ix1 - ix0)))
        roi = cv2.resize(rgb[iy0:iy1, ix0:ix1], (160, rh), interpolation=cv2.INTER_AREA)
        eyes = _eye_pair(roi)
        if eyes is None:
            continue
        eyes = _up(eyes, np.array([(ix1 - ix0) / 160.0, (iy1 - iy0) / rh]), (ix0, iy0))
        hits.append(FaceHit(box=(x * k, y * k, w * k, h * k), eyes=_order_eyes(eyes)))
    return hits


# ------------------------------------------------------------------------------------------- networks
def _need_weights(weights, what: str, expected: str) -> Path:
    if weights is None:
        raise DetectorUnavailable(
            f"the {what} detector needs local weights: pass weights=<path to {expected}> (nothing is downloaded)"
        )
    p = Path(weights).expanduser()
    if not p.exists():
        raise DetectorUnavailable(f"{what} weights not found at {p}: put {expected} there or pass its path")
    return p


def _need_package(module: str, pip_name: str, what: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise DetectorUnavailable(
            f"the {what} detector needs the {pip_name!r} package: pip install {pip_name}"
        )


def _load_state(path: Path) -> dict:
    import torch

    sd = torch.load(str(path), map_location="cpu", weights_only=True)
    if isinstance(sd, dict) and "state_dict" in sd and isinstance(sd["state_dict"], dict):
        sd = sd["state_dict"]
    return {(k[7:] if k.startswith("module.") else k): v for k, v in sd.items()}


@functools.lru_cache(maxsize=2)
def _mtcnn(folder: str, device: str):
    from facenet_pytorch import MTCNN  # optional dependency

    net = MTCNN(keep_all=True, device=device)
    for name in ("pnet", "rnet", "onet"):
        getattr(net, name).load_state_dict(_load_state(Path(folder) / f"{name}.pt"))
    return net.eval()


def detect_mtcnn(rgb: np.ndarray, weights, device: str = "cpu") -> list[FaceHit]:
    _need_package("facenet_pytorch", "facenet-pytorch", "MTCNN")
    folder = _need_weights(weights, "MTCNN", "a folder with pnet.pt, rnet.pt and onet.pt")
    folder = folder if folder.is_dir() else folder.parent
    for name in ("pnet", "rnet", "onet"):
        if not (folder / f"{name}.pt").is_file():
            raise DetectorUnavailable(f"MTCNN weights: {folder / (name + '.pt')} is missing")
    small, k = _downscale(rgb, 1024)
    boxes, probs, points = _mtcnn(str(folder), str(device)).detect(small, landmarks=True)
    if boxes is None:
        return []
    hits = []
    for b, p, pts in zip(boxes, probs, points, strict=False):
        pts = _up(pts, k)
        x0, y0, x1, y1 = (float(v) * k for v in b)
        hits.append(FaceHit((x0, y0, x1 - x0, y1 - y0), _order_eyes(pts[:2]), pts[3:5].mean(0), float(p)))
    return hits


@functools.lru_cache(maxsize=2)
def _retinaface(path: str, device: str):
    import inspect

    from facexlib.detection.retinaface import RetinaFace  # optional dependency

    name = "mobile0.25" if "mobile" in Path(path).name.lower() else "resnet50"
    kwargs = {"network_name": name, "half": False}
    if "device" in inspect.signature(RetinaFace.__init__).parameters:
        kwargs["device"] = device
    net = RetinaFace(**kwargs)
    net.load_state_dict(_load_state(Path(path)), strict=True)
    return net.eval()


def detect_retinaface(rgb: np.ndarray, weights, device: str = "cpu") -> list[FaceHit]:
    _need_package("facexlib", "facexlib", "RetinaFace")
    path = _need_weights(weights, "RetinaFace", "detection_Resnet50_Final.pth (facexlib's release file)")
    if path.is_dir():
        path = path / "detection_Resnet50_Final.pth"
        if not path.is_file():
            raise DetectorUnavailable(f"RetinaFace weights: {path} is missing")
    import torch

    small, k = _downscale(rgb, 1024)
    with torch.inference_mode():
        dets = _retinaface(str(path), str(device)).detect_faces(
            cv2.cvtColor(small, cv2.COLOR_RGB2BGR), conf_threshold=0.9
        )
    hits = []
    for d in np.asarray(dets, np.float64).reshape(-1, 15):
        x0, y0, x1, y1 = d[:4] * k
        pts = _up(d[5:15].reshape(5, 2), k)
        hits.append(FaceHit((x0, y0, x1 - x0, y1 - y0), _order_eyes(pts[:2]), pts[3:5].mean(0), float(d[4])))
    return hits


def detect_yunet(rgb: np.ndarray, weights) -> list[FaceHit]:
    if not hasattr(cv2, "FaceDetectorYN"):
        raise DetectorUnavailable(
            f"OpenCV {cv2.__version__} has no FaceDetectorYN (YuNet); use OpenCV >= 4.8"
        )
    path = _need_weights(weights, "YuNet", "face_detection_yunet_2023mar.onnx (from the OpenCV model zoo)")
    small, k = _downscale(rgb, 960)
    h, w = small.shape[:2]
    try:
        det = cv2.FaceDetectorYN.create(str(path), "", (w, h), 0.8, 0.3, 50)
        _, faces = det.detect(cv2.cvtColor(small, cv2.COLOR_RGB2BGR))
    except cv2.error as e:
        raise DetectorUnavailable(f"YuNet could not run with {path}: {e}") from None
    if faces is None:
        return []
    hits = []
    for d in np.asarray(faces, np.float64).reshape(-1, 15):
        pts = _up(d[4:14].reshape(5, 2), k)
        box = tuple(float(v) * k for v in d[:4])
        hits.append(FaceHit(box, _order_eyes(pts[:2]), pts[3:5].mean(0), float(d[14])))
    return hits
