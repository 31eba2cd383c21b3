"""Limits on untrusted input, in one place, and a JSON reader that enforces them.

Session files, autosaves and edit scripts may come from anyone. Everything the engine reads from them is
bounded: file size, JSON nesting depth, number of items, string lengths, image pixel counts. A value
over a limit is refused with a message that names the file and the limit, never with a traceback.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

#: Deepest JSON nesting we accept (our own files nest at most 5 levels).
MAX_JSON_DEPTH = 32
#: Largest session / autosave snapshot file (a session holds a few PNG masks and paths).
MAX_SESSION_BYTES = 64 * 1024 * 1024
#: Largest edit script and number of edits in it.
MAX_SCRIPT_BYTES = 4 * 1024 * 1024
MAX_SCRIPT_EDITS = 10_000
#: References a session may list (the editor keeps at most a few dozen prepared).
MAX_SESSION_REFERENCES = 64
#: Longest path string in a session file or edit script.
MAX_PATH_CHARS = 4096
#: Points in one brush stroke or polygon of an edit script.
MAX_POINTS = 100_000
#: Pixels of a mask embedded in a session (base64 PNG); checked from the PNG header before decoding.
MAX_EMBEDDED_MASK_PIXELS = 4096 * 4096
#: Largest coordinate accepted in an edit (masks are at most a few thousand pixels wide).
MAX_COORD = 1e6


class _Constant(ValueError):
    pass


def _no_constants(name: str):
    raise _Constant(f"{name} is not allowed")


def json_depth(doc: Any) -> int:
    """Nesting depth of a parsed JSON value (iterative: deep values cannot exhaust the stack)."""
    deepest = 0
    stack = [(doc, 1)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, dict):
            deepest = max(deepest, d)
            stack.extend((x, d + 1) for x in v.values())
        elif isinstance(v, list):
            deepest = max(deepest, d)
            stack.extend((x, d + 1) for x in v)
    return deepest


def parse_json(data: bytes | str, what: str, error: type[Exception], *, max_depth: int = MAX_JSON_DEPTH):
    """Parse untrusted JSON text, raising ``error`` with a clear message for anything malformed.

    Refuses: bytes that are not UTF-8, JSON syntax errors, NaN/Infinity literals, integers with more
    than 4300 digits, nesting deeper than ``max_depth``.
    """
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as e:
            raise error(f"{what} is not valid JSON (not UTF-8 text: bad byte at offset {e.start})") from None
    else:
        text = data
    if text.startswith("\ufeff"):
        text = text[1:]
    try:
        doc = json.loads(text, parse_constant=_no_constants)
    except json.JSONDecodeError as e:
        raise error(f"{what} is not valid JSON (line {e.lineno}, column {e.colno}: {e.msg})") from None
    except _Constant as e:
        raise error(f"{what} is not valid JSON ({e})") from None
    except RecursionError:
        raise error(f"{what} is nested too deeply (more than {max_depth} levels)") from None
    except ValueError as e:  # e.g. an integer literal with thousands of digits
        raise error(f"{what} is not valid JSON ({str(e).split(';')[0]})") from None
    depth = json_depth(doc)
    if depth > max_depth:
        raise error(f"{what} is nested {depth} levels deep; at most {max_depth} are allowed")
    return doc


def png_size(raw: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG's IHDR chunk without decoding, or None when it is not a PNG."""
    if len(raw) < 24 or raw[:8] != b"\x89PNG\r\n\x1a\n" or raw[12:16] != b"IHDR":
        return None
    return int.from_bytes(raw[16:20], "big"), int.from_bytes(raw[20:24], "big")


def number_arg(v, what: str, lo: float, hi: float, error: type[Exception]) -> float:
    """A finite number in [lo, hi] (bools and strings refused)."""
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
        raise error(f"{what} must be a number, got {v!r}"[:200])
    try:
        f = float(v)
    except OverflowError:
        f = float("inf")
    if not (np.isfinite(f) and lo <= f <= hi):
        raise error(f"{what} must be a finite number in [{lo:g}, {hi:g}], got {v!r}"[:200])
    return f


def points_arg(points, what: str, error: type[Exception], min_points: int = 1) -> np.ndarray:
    """An N×2 float array of finite (x, y) points within ±MAX_COORD, from a list of pairs."""
    if isinstance(points, (str, bytes, dict)) or points is None:
        raise error(f"{what} must be a list of [x, y] pairs")
    try:
        arr = np.asarray(points, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        raise error(f"{what} must be a list of [x, y] number pairs") from None
    if arr.ndim == 1 and arr.size == 2:
        arr = arr[None]
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise error(f"{what} must be a list of [x, y] pairs, got an array of shape {arr.shape}")
    if len(arr) < min_points:
        raise error(f"{what}: at least {min_points} point(s) needed, got {len(arr)}")
    if len(arr) > MAX_POINTS:
        raise error(f"{what}: at most {MAX_POINTS} points, got {len(arr)}")
    if not np.isfinite(arr).all() or np.abs(arr).max() > MAX_COORD:
        raise error(f"{what} must be finite numbers within ±{MAX_COORD:g}")
    return arr


def is_sha256(v) -> bool:
    return isinstance(v, str) and len(v) == 64 and all(c in "0123456789abcdef" for c in v)


def entry_path(entry, base: Path, what: str, where: str, error: type[Exception]) -> tuple[Path, str]:
    """The file a photo/reference entry of a session or autosave names, by the path rule:

    * every entry carries the sha256 of the pixels it was saved with (the caller checks the file);
    * a relative path is taken from the session's folder and may not climb out of it ('..');
    * an absolute path is allowed (the photo the user opened may live anywhere).
    """
    if not isinstance(entry, dict):
        raise error(f"{where}: the {what} entry must be an object with 'path' and 'sha256'")
    raw = entry.get("path")
    if not isinstance(raw, str) or not raw:
        raise error(f"{where}: session file has no path for the {what}")
    if len(raw) > MAX_PATH_CHARS or "\x00" in raw:
        raise error(f"{where}: the {what} path is not a usable file name")
    sha = entry.get("sha256")
    if not is_sha256(sha):
        raise error(
            f"{where}: the {what} entry has no valid sha256 (64 hex digits); refusing a file that cannot be checked"
        )
    p = Path(raw)
    if p.is_absolute():
        return p, sha
    if ".." in p.parts:
        raise error(
            f"{where}: the {what} path {raw[:200]!r} leaves the session's folder; relative paths must stay inside it"
        )
    return base / p, sha


def check_header(doc, where: str, fmt: str, version: int, kind: str, error: type[Exception]) -> int:
    """Format and version of a FacePaint JSON file (session, autosave); returns the version."""
    if not isinstance(doc, dict):
        raise error(f"{where} is not a FacePaint {kind} file (it holds no JSON object)")
    found = doc.get("format")
    if found != fmt:
        if isinstance(found, str) and found.startswith("facepaint-"):
            raise error(f"{where} is a '{found[:40]}' file, not a FacePaint {kind} file")
        raise error(f"{where} is not a FacePaint {kind} file")
    v = doc.get("version")
    if not isinstance(v, int) or isinstance(v, bool):
        raise error(f"{where}: {kind} format version is missing or not a number")
    if v > version:
        raise error(
            f"{where} was saved in {kind} format version {v}; this FacePaint reads version {version}. "
            "It was written by a newer FacePaint: update FacePaint to open it"
        )
    if v < 1:
        raise error(f"{where} has an invalid {kind} format version {v}")
    return v
