"""Long sessions make hundreds of thousands of Qt calls; none may exhaust a Python singleton."""

from __future__ import annotations

import sys

from PySide6.QtCore import QObject, Signal

from editor.qtcompat import guard_singleton_refcounts, measure_leaks


class _Emitter(QObject):
    changed = Signal(bool)


def test_many_qt_calls_keep_none_and_true_alive():
    applied = guard_singleton_refcounts()
    if sys.version_info >= (3, 12):
        assert applied == {"None": False, "True": False}
    e = _Emitter()
    seen = []
    e.changed.connect(lambda v: seen.append(v) if len(seen) < 1 else None)
    for i in range(50_000):  # far more than the objects' natural reference counts
        e.changed.emit(i % 2 == 0)
        e.setObjectName("x")
    assert seen == [True]
    assert sys.getrefcount(True) > 1000 and sys.getrefcount(None) > 1000
    assert set(measure_leaks(8)) == {"None", "True"}
