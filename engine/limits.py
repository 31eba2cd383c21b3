"""Limits on untrusted input, in one place, and a JSON reader that enforces them.

Session files, autosaves and edit scripts may come from anyone. Everything the engine reads from them is
bounded: file size, JSON nesting depth, number of items, string lengths, image pixel counts. A value
over a limit is refused with a message that names the file and the limit, never with a traceback.
"""

from __future__ import annotations

import json
from typing import Any

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
