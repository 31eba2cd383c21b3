"""GUI benchmarks, measured offscreen with the real window, worker and engine.

``gui_bench()`` paints strokes on the canvas the way a user does (press, moves, release) and, while each
regenerate runs in the worker, repaints the canvas from the UI thread. It reports:

* ``paint_event_ms_median`` / ``paint_event_ms_max``: UI-thread time per canvas paint event while a
  regenerate is running (what decides whether the UI stutters);
* ``stroke_to_result_ms``: median time from releasing a stroke to its result being on screen;
* extras: per mouse-move handling time, the model's own render time, device and resolution.

``soak_bench()`` (in editor.soak) fires thousands of strokes, transfers, slider moves and undo/redo
without waiting, then reports memory at start and end, the longest UI-thread stall and any error.

Both take keyword arguments or a ``facepaint bench --gui`` style argument list
(``--bundle DIR --photo FILE --device cpu|cuda --strokes N``; the soak also ``--transfers N --sliders N
--undos N --edits N --seed N``).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import tempfile
import time
from pathlib import Path

FRAME_S = 1 / 60  # the benchmark repaints like a 60 Hz display while a regenerate runs


def _synthetic_photo(path: Path, size: int = 512) -> Path:
    """A simple face-like drawing, used only when no photo or bundled sample is available."""
    import cv2
    import numpy as np

    img = np.full((size, size, 3), (90, 120, 150), np.uint8)
    c = size // 2
    cv2.ellipse(img, (c, int(c * 0.9)), (int(size * 0.3), int(size * 0.36)), 0, 0, 360, (40, 30, 25), -1)
    cv2.ellipse(img, (c, c), (int(size * 0.24), int(size * 0.31)), 0, 0, 360, (150, 170, 210), -1)
    for dx in (-1, 1):
        cv2.circle(img, (c + dx * size // 10, int(c * 0.92)), size // 40, (40, 40, 40), -1)
    cv2.ellipse(img, (c, int(c * 1.3)), (size // 12, size // 40), 0, 0, 360, (60, 60, 170), -1)
    cv2.imwrite(str(path), img)
    return path


def _options(argv, **kw) -> dict:
    """Keyword arguments, or an argument list as the launcher passes it."""
    if argv is None or isinstance(argv, (str, os.PathLike)):
        return {"bundle": argv, **kw}
    p = argparse.ArgumentParser(prog="facepaint bench --gui")
    p.add_argument("--bundle")
    p.add_argument("--photo")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"))
    p.add_argument("--strokes", type=int)
    p.add_argument("--edits", type=int, help="soak: this many actions in the default mix")
    p.add_argument("--transfers", type=int)
    p.add_argument("--sliders", type=int)
    p.add_argument("--undos", type=int, help="soak: undo and redo steps")
    p.add_argument("--seed", type=int)
    a = p.parse_args(list(argv))
    return {**kw, **{k: v for k, v in vars(a).items() if v is not None}}


def _rss_mb() -> float:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


class _Harness:
    """An offscreen main window with a photo opened and its first result shown."""

    def __init__(self, bundle, photo, device, size, timeout_s):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        from editor.app import create_window, engine_factory, get_app
        from editor.panels.gallery import sample_paths
        from editor.settings import Settings

        self.timeout_s = timeout_s
        self.app = get_app()
        self.tmp = tempfile.TemporaryDirectory(prefix="facepaint-bench-")
        settings = Settings(Path(self.tmp.name) / "settings.ini")
        self.win = win = create_window(factory=engine_factory(bundle, device), settings=settings)
        win.ask_unsaved = lambda: "discard"
        win.resize(*size)
        win.show()
        self.client, self.ctl, self.canvas = win.client, win.ctl, win.canvas
        self.wait(lambda: self.client.engine is not None or self.client.engine_error is not None, "the model")
        if self.client.engine is None:
            raise RuntimeError(f"GUI benchmark: the engine did not start: {self.client.engine_error}")
        if photo is None:
            samples = sample_paths()
            photo = samples[0] if samples else _synthetic_photo(Path(self.tmp.name) / "face.png")
        win.open_path(photo)
        self.wait(lambda: self.ctl.doc is not None or self.ctl.last_error is not None, "the photo")
        if self.ctl.doc is None:
            raise RuntimeError(f"GUI benchmark: {self.ctl.last_error}")
        self.settle()
        self.R = self.ctl.doc.resolution
        win.toolbar.size.setValue(max(2, self.R // 32))

    def wait(self, cond, what: str) -> None:
        end = time.perf_counter() + self.timeout_s
        while not cond():
            if time.perf_counter() > end:
                raise TimeoutError(f"GUI benchmark: timed out waiting for {what}")
            self.app.processEvents()
            time.sleep(0.001)

    def settle(self) -> None:
        self.wait(lambda: self.client.idle and self.ctl.result_is_current, "the result")

    def mouse(self, kind: str, x: float, y: float) -> float:
        """Send a left-button press/move/release at image point (x, y); returns handling ms."""
        from PySide6.QtCore import QEvent, QPointF, Qt
        from PySide6.QtGui import QMouseEvent

        L, NB = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton
        etype, button, buttons = {
            "press": (QEvent.Type.MouseButtonPress, L, L),
            "move": (QEvent.Type.MouseMove, NB, L),
            "release": (QEvent.Type.MouseButtonRelease, L, NB),
        }[kind]
        pos = self.canvas.image_to_widget(x, y)
        gpos = QPointF(self.canvas.mapToGlobal(pos.toPoint()))
        ev = QMouseEvent(etype, pos, gpos, button, buttons, Qt.KeyboardModifier.NoModifier)
        t0 = time.perf_counter()
        self.app.sendEvent(self.canvas, ev)
        return (time.perf_counter() - t0) * 1000.0

    def stroke(self, i: int, move_ms: list[float] | None = None) -> None:
        R = self.R
        y = R * (0.25 + 0.5 * ((i * 0.37) % 1.0))
        # Paint with a region the row does not already have everywhere, so the stroke changes the mask
        # (a stroke that changes nothing gives no new result to wait for).
        row = self.ctl.doc.state.mask[int(y), int(R * 0.2) : int(R * 0.76) + 1]
        order = (13, 1, 18, 17, 0)
        label = next(c for k in range(len(order)) if ((c := order[(i + k) % len(order)]) != row).any())
        self.ctl.select_region(label)
        self.mouse("press", R * 0.2, y)
        for k in range(1, 9):
            ms = self.mouse("move", R * (0.2 + 0.07 * k), y + (k % 2))
            if move_ms is not None:
                move_ms.append(ms)
            self.app.processEvents()
        self.mouse("release", R * 0.76, y)

    def close(self) -> None:
        self.ctl.undo_stack.setClean()
        self.win.close()
        self.win.deleteLater()
        self.app.processEvents()
        self.tmp.cleanup()


@contextlib.contextmanager
def _harness(o: dict):
    h = _Harness(
        o.get("bundle"),
        o.get("photo"),
        o.get("device"),
        o.get("size", (1400, 900)),
        o.get("timeout_s", 120.0),
    )
    try:
        yield h
    finally:
        h.close()


def gui_bench(argv=None, photo=None, **kw) -> dict:
    """Measure UI-thread paint time during regenerates and the stroke-to-result latency."""
    o = _options(argv, **({"photo": photo} if photo is not None else {}), **kw)
    strokes = int(o.get("strokes", 6))
    with _harness(o) as h:
        ctl, canvas, client = h.ctl, h.canvas, h.client
        shown_at: list[float] = []
        ctl.resultChanged.connect(
            lambda: shown_at.append(time.perf_counter()) if ctl.result_is_current else None
        )
        busy_paints: list[float] = []
        move_ms: list[float] = []
        latency: list[float] = []
        render_ms: list[float] = []
        for i in range(strokes):
            h.stroke(i, move_ms)
            shown_at.clear()
            released = time.perf_counter()  # the release above queued the stroke's final render
            end = released + h.timeout_s
            last_paint = 0.0
            while not shown_at:
                now = time.perf_counter()
                if now > end:
                    raise TimeoutError("GUI benchmark: a stroke's result never arrived")
                if client.busy and now - last_paint >= FRAME_S:
                    last_paint = now
                    canvas.paint_times.clear()
                    canvas.repaint()  # a synchronous paint event on the UI thread, at most 60 per second
                    busy_paints.extend(canvas.paint_times)
                h.app.processEvents()
                time.sleep(0.001)
            latency.append((shown_at[0] - released) * 1000.0)
            if ctl.last_render_ms is not None:
                render_ms.append(ctl.last_render_ms)
        if not busy_paints:  # the model finished before a paint could overlap it: plain paints
            for _ in range(10):
                canvas.paint_times.clear()
                canvas.repaint()
                busy_paints.extend(canvas.paint_times)
        return {
            "paint_event_ms_median": round(statistics.median(busy_paints), 3),
            "paint_event_ms_max": round(max(busy_paints), 3),
            "stroke_to_result_ms": round(statistics.median(latency), 1),
            "stroke_to_result_ms_max": round(max(latency), 1),
            "paint_events_measured": len(busy_paints),
            "mouse_move_ms_median": round(statistics.median(move_ms), 3),
            "mouse_move_ms_max": round(max(move_ms), 3),
            "render_ms_median": round(statistics.median(render_ms), 1) if render_ms else None,
            "strokes": strokes,
            "resolution": h.R,
            "device": client.device_label,
            "window": "{}x{} offscreen".format(*o.get("size", (1400, 900))),
        }


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(gui_bench(sys.argv[1:]), indent=2))
