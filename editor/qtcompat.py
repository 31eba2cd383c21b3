"""Work-around for a reference-counting defect of the Qt bindings, applied once at start-up.

PySide6 6.12.0 on CPython 3.11 drops one reference to ``None`` on every call of a Qt method that returns
nothing (``painter.setPen(...)``, ``label.setText(...)``, ...) and one reference to ``True`` every time a
signal invokes a Python slot. 6.11.3 does neither, and on CPython 3.12+ both objects are immortal, so
nothing happens there. Left alone, after a few thousand calls - seconds to minutes of painting - a count
reaches zero and the interpreter aborts with "none_dealloc" or "bool_dealloc".

``guard_singleton_refcounts`` measures both leaks with tiny probes and, only where a leak is present,
gives the object so many extra references that it can never reach zero (these objects are never freed
anyway). The real fix is a PySide6 without the defect: the project should exclude 6.12.0.
"""

from __future__ import annotations

import ctypes
import sys

_HEADROOM = 1 << 48
_PROBES = 64
_applied: dict[str, bool] = {}


def measure_leaks(probes: int = _PROBES) -> dict[str, int]:
    """References to None lost per ``probes`` void Qt calls, and to True per ``probes`` slot calls."""
    from PySide6.QtCore import QObject, Signal

    class _Probe(QObject):
        ping = Signal()

    probe = _Probe()
    before = sys.getrefcount(None)
    for _ in range(probes):
        probe.setObjectName("probe")
    none_lost = before - sys.getrefcount(None)
    probe.ping.connect(lambda: None)
    before = sys.getrefcount(True)
    for _ in range(probes):
        probe.ping.emit()
    true_lost = before - sys.getrefcount(True)
    probe.ping.disconnect()
    return {"None": max(none_lost, 0), "True": max(true_lost, 0)}


def guard_singleton_refcounts() -> dict[str, bool]:
    """Protect None and True where this PySide6 leaks references to them. Returns what was applied."""
    if _applied:
        return dict(_applied)
    leaks = measure_leaks() if sys.version_info < (3, 12) else {"None": 0, "True": 0}
    for name, obj in (("None", None), ("True", True)):
        leaking = leaks[name] >= _PROBES // 2
        if leaking:
            ctypes.c_ssize_t.from_address(id(obj)).value += _HEADROOM
        _applied[name] = leaking
    return dict(_applied)
