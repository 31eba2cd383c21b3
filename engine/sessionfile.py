"""Session files: JSON (format version, photo path + hash, alignment, parsed mask, edit state,
references). They never hold code, and every field is validated on the way in."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import cv2
import numpy as np

from engine.atomicio import atomic_write
from engine.face import Alignment
from engine.faceengine import EngineError, FaceEngine, PreparedImage
from engine.imageio import ImageError, load_image
from engine.labels import swap_left_right
from engine.limits import (
    MAX_SESSION_BYTES,
    MAX_SESSION_REFERENCES,
    check_header,
    entry_path,
    parse_json,
)
from engine.state import (
    EditState,
    StateError,
    decode_mask_png,
)

SESSION_FORMAT = "facepaint-session"
#: 2: left and right are the subject's (engine.labels.LR_PAIRS); version-1 files are renamed on load.
#: 3: the state's mask is on the working grid (engine.workmask), saved with the parse on that grid
#: ("parsed_work"); older files open on the networks' grid they were painted on.
SESSION_VERSION = 3


class SessionFileError(EngineError):
    """A session file that cannot be read: malformed, foreign, newer, or pointing at a missing photo."""


def photo_sha256(rgb: np.ndarray) -> str:
    """The content hash a session stores for its photo and references (of the decoded RGB pixels)."""
    return hashlib.sha256(np.ascontiguousarray(rgb).tobytes()).hexdigest()


_sha256 = photo_sha256


def _portable_path(p: str, base: Path | None) -> str:
    """How a photo path is written: relative when it lies inside the session's folder, else absolute."""
    if not p:
        return ""
    full = Path(p).resolve()
    if base is not None and full.is_relative_to(base):
        return full.relative_to(base).as_posix()
    return str(full)


def session_doc(prep: PreparedImage, state: EditState, refs: dict, *, base: Path | None,
                photo_sha: str | None = None) -> dict:
    """The JSON document of a session. ``refs`` maps reference id -> {"path", "sha256", "aligned"};
    ``base`` is the folder the file goes to (paths inside it are written relative), None: all absolute."""
    base = base.resolve() if base is not None else None
    return {
        "format": SESSION_FORMAT,
        "version": SESSION_VERSION,
        "photo": {"path": _portable_path(prep.source, base), "sha256": photo_sha or photo_sha256(prep.photo.rgb)},
        "alignment": {
            "matrix": np.asarray(prep.alignment.matrix, float).tolist(),
            "found": bool(prep.alignment.found),
            "method": prep.alignment.method,
            "status": prep.alignment.status,
        },
        "parsed": EditState(mask=prep.parsed_mask).to_json()["mask_png"],
        "parsed_work": EditState(mask=prep.work_mask).to_json()["mask_png"],
        "state": state.to_json(),
        "references": {
            rid: {"path": _portable_path(e["path"], base), "sha256": e["sha256"], "aligned": bool(e["aligned"])}
            for rid, e in sorted(refs.items())
        },
    }


def write_session_file(path, engine: FaceEngine, prep: PreparedImage, state: EditState) -> None:
    path = Path(path)
    refs = {}
    for rid in sorted(state.refs()):
        ref = engine.reference(rid)
        refs[rid] = {"path": ref.source, "sha256": ref.sha256 or photo_sha256(ref.photo.rgb), "aligned": ref.aligned}
    doc = session_doc(prep, state, refs, base=path.resolve().parent)
    atomic_write(path, json.dumps(doc, indent=1), "session", EngineError)


def _load_checked(path: Path, sha: str, what: str):
    try:
        img = load_image(path)
    except ImageError as e:
        raise SessionFileError(f"cannot restore the session: the {what} {e}") from None
    if photo_sha256(img.rgb) != sha:
        raise SessionFileError(f"cannot restore the session: the {what} {path} changed since it was saved")
    return img


def session_version(doc) -> int:
    """The format version of a session document already checked by :func:`check_session_header`."""
    return int(doc["version"])


def check_session_header(doc, where: str, *, fmt: str = SESSION_FORMAT, version: int = SESSION_VERSION,
                         kind: str = "session") -> int:
    """Format and version checks shared by session files and autosaves; returns the version."""
    return check_header(doc, where, fmt, version, kind, SessionFileError)


def load_references(engine: FaceEngine, refs, base: Path, where: str) -> list[str]:
    """Prepare every listed reference (checked by the path rule and its sha256); returns their ids."""
    if not isinstance(refs, dict):
        raise SessionFileError(f"{where}: 'references' must be an object")
    if len(refs) > MAX_SESSION_REFERENCES:
        raise SessionFileError(f"{where} lists {len(refs)} references; at most {MAX_SESSION_REFERENCES} are allowed")
    out = []
    for rid, entry in refs.items():
        if len(rid) > 128:
            raise SessionFileError(f"{where}: a reference id is too long")
        out.append(rid)
        if engine.has_reference(rid):
            continue
        p, sha = entry_path(entry, base, "reference", where, SessionFileError)
        img = _load_checked(p, sha, "reference")
        got = engine.add_reference(img, align=entry.get("aligned", True) is not False)
        if got != rid:
            raise SessionFileError(f"{where}: reference {rid[:40]} no longer matches its file")
    return out


def read_session_file(path, engine: FaceEngine) -> tuple[PreparedImage, EditState]:
    """Restore (prepared photo, state) exactly as saved. Raises SessionFileError with a clear message."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as e:
        raise SessionFileError(f"cannot open session {path}: {e.strerror}") from None
    if not path.is_file():
        raise SessionFileError(f"session {path} is not a regular file")
    if size > MAX_SESSION_BYTES:
        raise SessionFileError(f"session file {path} is {size} bytes, larger than any session we write")
    try:
        data = path.read_bytes()
    except OSError as e:
        raise SessionFileError(f"cannot read session {path}: {e.strerror or e}") from None
    doc = parse_json(data, str(path), SessionFileError)
    return read_session_doc(doc, path.resolve().parent, engine, where=str(path))


def read_session_doc(
    doc, base: Path, engine: FaceEngine, *, where: str, rename_sides: bool = True
) -> tuple[PreparedImage, EditState]:
    """Restore from an already parsed session document whose relative paths start at ``base``. A
    version-1 document (``l_*`` on the image's left) has its masks and regions renamed unless
    ``rename_sides`` is False (the caller then converts what it restores; see :func:`session_version`)."""
    version = check_session_header(doc, where)
    p, sha = entry_path(doc.get("photo"), base, "photo", where, SessionFileError)
    photo = _load_checked(p, sha, "photo")
    al = doc.get("alignment")
    try:
        matrix = np.asarray(al["matrix"], dtype=np.float64)
        if matrix.shape != (2, 3) or not np.isfinite(matrix).all() or np.abs(matrix).max() > 1e6:
            raise ValueError
    except (KeyError, TypeError, ValueError, OverflowError):
        raise SessionFileError(f"{where}: the saved alignment is malformed") from None
    R = engine.resolution
    try:
        parsed = decode_mask_png(doc.get("parsed"), (R, R))
        work, k = parsed, 1
        if version >= 3:
            work = decode_mask_png(doc.get("parsed_work"))
            k = work.shape[0] // R
            if work.shape != (k * R, k * R) or k not in (1, 2, 4):
                raise StateError(f"the working parse is {work.shape[1]}×{work.shape[0]}, not 1, 2 or 4 times {R}")
        state = EditState.from_json(doc.get("state"), work.shape)
    except StateError as e:
        raise SessionFileError(f"{where}: {e}") from None
    if version < 2 and rename_sides:
        parsed, work, state = swap_left_right(parsed), swap_left_right(work), state.sides_renamed()
    try:
        alignment = Alignment.from_matrix(photo.rgb, matrix, R, found=al.get("found", True) is not False,
                                          method=str(al.get("method", "saved"))[:100],
                                          status=str(al.get("status", ""))[:500])
    except (ValueError, cv2.error) as e:
        raise SessionFileError(f"{where}: the saved alignment is unusable: {e}") from None
    prep = engine.prepare(photo, alignment=alignment, parsed_mask=parsed, parsed_work=work, work_scale=k)
    listed = load_references(engine, doc.get("references", {}), base, where)
    missing = state.refs() - set(listed)
    if missing:
        raise SessionFileError(f"{where}: the edits use references that are not listed: {sorted(missing)[:5]}")
    return prep, state
