"""Functions that run in the engine worker thread (never in the UI thread).

Each takes the FaceEngine first; the EngineClient calls them in order. They return plain data that the
UI thread may read (numpy arrays, ids, the PreparedImage, which the UI only reads).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.imageio import ImageError, load_image
from engine.session import EditSession, EngineError, photo_sha256, read_session_file, write_session_file

SESSION_SUFFIXES = (".json",)


@dataclass(frozen=True)
class Opened:
    prepared: object  # PreparedImage
    state: object  # EditState
    source: Path
    is_session: bool
    sha256: str = ""  # of the decoded photo


@dataclass(frozen=True)
class RefInfo:
    path: str
    id: str
    crop: np.ndarray
    present: tuple[bool, ...]
    sha256: str = ""
    aligned: bool = True

    def entry(self) -> dict:
        """How a session or autosave names this reference."""
        return {"path": str(Path(self.path).resolve()), "sha256": self.sha256, "aligned": self.aligned}


def is_session_path(path: str | Path) -> bool:
    return Path(path).suffix.lower() in SESSION_SUFFIXES


def open_any(engine, path: str | Path) -> Opened:
    """Open a photo (align, parse, encode) or a saved session."""
    p = Path(path)
    if not p.exists():
        raise EngineError(f"{p} does not exist")
    if is_session_path(p):
        prepared, state = read_session_file(p, engine)
        return Opened(prepared, state, p, True, photo_sha256(prepared.photo.rgb))
    prepared = engine.prepare(str(p))
    return Opened(prepared, engine.initial_state(prepared), p, False, photo_sha256(prepared.photo.rgb))


@dataclass(frozen=True)
class LoadedPhoto:
    image: object  # engine.imageio.LoadedImage
    pyramid: tuple  # halved copies (uint8 H×W×3), largest first, for drawing when zoomed out


PYRAMID_MIN = 512  # halved copies stop at this longer side


def photo_pyramid(rgb: np.ndarray, smallest: int = PYRAMID_MIN) -> tuple:
    """Halved copies of ``rgb`` (area-averaged) until the longer side is at most ``smallest``."""
    import cv2

    out, img = [], rgb
    while max(img.shape[:2]) > smallest:
        h, w = img.shape[:2]
        img = cv2.resize(img, (max(1, w // 2), max(1, h // 2)), interpolation=cv2.INTER_AREA)
        out.append(img)
    return tuple(out)


def load_photo(engine, path: str | Path) -> LoadedPhoto:
    """Decode a photo (EXIF-oriented) and its display pyramid, so the editor can show it at once,
    before it is parsed."""
    p = Path(path)
    if not p.exists():
        raise EngineError(f"{p} does not exist")
    try:
        img = load_image(p)
    except ImageError as e:
        raise EngineError(str(e)) from None
    return LoadedPhoto(img, photo_pyramid(img.rgb))


def open_loaded(engine, loaded, path: str | Path) -> Opened:
    """Align, parse and encode a photo `load_photo` decoded."""
    prepared = engine.prepare(loaded)
    return Opened(prepared, engine.initial_state(prepared), Path(path), False, photo_sha256(prepared.photo.rgb))


def add_reference(engine, path: str | Path) -> RefInfo:
    p = Path(path)
    if not p.is_file():
        raise EngineError(f"reference {p} does not exist")
    rid = engine.add_reference(str(p))
    return ref_info(engine, rid, str(path))


def ref_info(engine, rid: str, path: str) -> RefInfo:
    ref = engine.reference(rid)
    return RefInfo(
        path,
        rid,
        np.asarray(ref.crop),
        tuple(bool(x) for x in ref.present),
        ref.sha256 or photo_sha256(ref.photo.rgb),
        bool(ref.aligned),
    )


def restore_autosave(engine, folder: str | Path):
    """Read an orphaned autosave (``editor.recovery``); returns (Restored, [RefInfo])."""
    from editor.recovery import read_autosave

    res = read_autosave(engine, Path(folder))
    infos = [
        ref_info(engine, rid, e.get("path", "")) for rid, e in res.refs.items() if engine.has_reference(rid)
    ]
    return res, infos


def export(engine, prepared, state, path, mask_path=None, session_path=None) -> str:
    """Full-size photo (atomic write), optionally the mask PNG and a session file."""
    EditSession(engine, prepared, state).export(path, mask_path=mask_path, session_path=session_path)
    return str(path)


def save_session(engine, prepared, state, path) -> str:
    write_session_file(path, engine, prepared, state)
    return str(path)
