"""Atomic file writes: the one place that does the temp-file, ``fsync``, ``os.replace`` dance.

:func:`atomic_write` writes into a temporary file in the target's folder, flushes and fsyncs it, gives it
ordinary permissions (``0o666`` less the umask) and renames it over the target, then fsyncs the folder so
that the rename itself is durable. On any failure the temporary file is removed and an existing target is
left exactly as it was. Failures are raised as the caller's error type with a one-line message naming
the file and the problem (``cannot save mask to /x/m.png: folder /x does not exist``).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

__all__ = ["atomic_write", "sync_folder"]

_UMASK = os.umask(0o022)  # read the process umask once (setting it is not thread-safe later)
os.umask(_UMASK)

#: What a write callback (an image encoder, a serialiser) raises for a payload it cannot write.
_WRAPPED = (OSError, ValueError, KeyError, TypeError)

Payload = bytes | bytearray | memoryview | str | Callable[[BinaryIO], object]


def _passes_through(e: BaseException, error: type[Exception]) -> bool:
    """An exception that already is ``error`` keeps its own message, unless it is a system error
    (an ``OSError`` with an errno), which is reworded to name the file."""
    return isinstance(e, error) and not (isinstance(e, OSError) and e.errno is not None)


def atomic_write(
    path: str | os.PathLike,
    data: Payload,
    what: str = "file",
    error: type[Exception] = OSError,
    *,
    sync: bool = True,
) -> None:
    """Write ``data`` to ``path`` atomically: all of it or, on failure, nothing (the old file stays).

    ``data`` is bytes, a str (written as UTF-8), or a callback ``write(f)`` that writes to the binary
    file object ``f``. ``what`` names the payload in messages ("mask", "session"); ``error`` is the
    exception type raised for every failure, including ``OSError``, ``ValueError``, ``KeyError`` and
    ``TypeError`` from the callback (an ``error`` the callback raises itself passes through unchanged).
    ``sync=False`` skips both fsyncs (for a caller that syncs elsewhere); the rename is still atomic.
    The folder must exist: it is not created.
    """
    p = Path(path)
    folder = p.parent if str(p.parent) else Path(".")
    if p.is_dir():
        raise error(f"cannot save {what} to {p}: it is a folder")
    if not folder.is_dir():
        raise error(f"cannot save {what} to {p}: folder {folder} does not exist")
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{p.name}.", suffix=".tmp")
    except OSError as e:
        raise error(f"cannot save {what} to {p}: folder {folder} is not writable ({e.strerror or e})") from None
    try:
        with os.fdopen(fd, "wb") as f:
            if callable(data):
                data(f)
            else:
                f.write(data.encode("utf-8") if isinstance(data, str) else data)
            f.flush()
            if sync:
                os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the file ordinary permissions
        os.replace(tmp, p)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if _passes_through(e, error) or not isinstance(e, _WRAPPED):
            raise
        raise error(f"cannot save {what} to {p}: {getattr(e, 'strerror', None) or e}") from None
    if sync:
        sync_folder(folder)  # make the rename itself durable


def sync_folder(folder: str | os.PathLike) -> None:
    """fsync a folder, so that renames and new files in it survive a power cut. Best effort: not every
    platform or file system can, and a failure is ignored."""
    try:
        dfd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass
