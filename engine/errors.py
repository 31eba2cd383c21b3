"""The engine's user-facing error, in a module of its own so that the plain-data modules (edits,
state, history) can raise it without importing torch."""

from __future__ import annotations

__all__ = ["EngineError", "Superseded"]


class EngineError(Exception):
    """A user-facing engine failure. ``str()`` is a readable one-line message."""


class Superseded(Exception):
    """A render given up part way because the caller no longer wants it (a newer request is waiting).
    Not a failure: nothing is reported to the user."""
