"""The engine's user-facing error, in a module of its own so that the plain-data modules (edits,
state, history) can raise it without importing torch."""

from __future__ import annotations

__all__ = ["EngineError"]


class EngineError(Exception):
    """A user-facing engine failure. ``str()`` is a readable one-line message."""
