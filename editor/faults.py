"""Worker faults turned into messages, and memory given back after a render (used by engine_client)."""

from __future__ import annotations

import sys
import traceback

from engine.bundle import BundleError
from engine.imageio import ImageError
from engine.maskops import MaskOpError
from engine.session import EngineError, StateError

TRIM_EVERY_S = 2.0
_LIBC: list = []


def release_free_memory() -> bool:
    """Return freed heap memory to the OS (glibc's malloc_trim); False where that is not available."""
    if not _LIBC:
        try:
            import ctypes
            import ctypes.util

            lib = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            _LIBC.append(lib.malloc_trim if hasattr(lib, "malloc_trim") else None)
        except (OSError, AttributeError):
            _LIBC.append(None)
    if _LIBC[0] is None:
        return False
    _LIBC[0](0)
    return True


def is_gpu_oom(exc: BaseException) -> bool:
    """A CUDA (or other accelerator) allocation failure, as opposed to the CPU running out of memory."""
    import torch

    oom = getattr(torch, "OutOfMemoryError", None) or getattr(torch.cuda, "OutOfMemoryError", None)
    if oom is not None and isinstance(exc, oom):
        return True
    text = str(exc)
    return isinstance(exc, RuntimeError) and (
        "CUDA out of memory" in text or "CUDA error: out of memory" in text
    )


def describe_error(exc: BaseException) -> str:
    """A readable one-line message for anything the engine raised."""
    if isinstance(exc, (EngineError, StateError, BundleError, ImageError, MaskOpError)):
        return str(exc) or type(exc).__name__
    if is_gpu_oom(exc):
        return "The GPU ran out of memory while running the model. Try a smaller photo, or run on the CPU."
    if isinstance(exc, MemoryError) or (
        isinstance(exc, RuntimeError) and "can't allocate memory" in str(exc)
    ):
        return "Out of memory while running the model. Close other programs or use a smaller photo."
    if isinstance(exc, OSError):
        where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        return f"{exc.strerror or exc}{where}"
    traceback.print_exception(exc, file=sys.stderr)
    return f"Unexpected error ({type(exc).__name__}): {exc}"
