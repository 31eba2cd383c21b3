"""Shared pieces of the GUI benchmarks and the scripted user.

``send_mouse`` feeds the canvas a left-button press, move or release at an image point, built the way
Qt builds a real one (``mouse_event``). ``Harness`` (used through ``harness(options)``) builds an offscreen main
window with throw-away settings, waits for the model, opens a photo and waits for its first result.
``options`` turns keyword arguments or a ``facepaint bench --gui`` argument list into one dict.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import tempfile
import time
from pathlib import Path

# Importing Qt does not pick the platform plugin; that happens when the QApplication is built, so the
# offscreen default set by Harness still applies.
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication


def synthetic_photo(path: Path, size: int = 512) -> Path:
    """Draw a crude face (hair, skin, eyes, mouth) into ``path``; used when there is no real photo."""
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


def photo_sized_sample(path: Path, megapixels: float = 12.0) -> Path:
    """A camera-sized portrait for the benchmarks: the bundled astronaut photo enlarged (bicubic) to
    ``megapixels`` at 4:3, widened by mirroring its sides, with a little sensor-like noise, as a JPEG.
    Its pixels are not a 12 MP photograph's, but its size is, which is what the canvas and the
    compositor's costs depend on."""
    import cv2
    import numpy as np

    from engine.bundle import resources_dir
    from engine.imageio import load_image

    src = load_image(resources_dir() / "samples" / "astronaut.jpg").rgb
    h = int(round(np.sqrt(megapixels * 1e6 * 3 / 4)))
    w = int(round(h * 4 / 3))
    img = cv2.resize(src, (h, h), interpolation=cv2.INTER_CUBIC)
    side = (w - h) // 2
    img = cv2.copyMakeBorder(img, 0, 0, side, w - h - side, cv2.BORDER_REFLECT)
    noise = np.random.default_rng(0).normal(0, 2.0, img.shape)
    img = np.clip(img + noise, 0, 255).astype(np.uint8)
    cv2.imwrite(str(path), img[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 92])
    return path


def options(argv, **kw) -> dict:
    """Merge the benchmark settings: ``argv`` is either a launcher-style argument list, or (for direct
    calls) a bundle path or None, with everything else passed as keywords."""
    if argv is None or isinstance(argv, (str, os.PathLike)):
        return {"bundle": argv, **kw}
    p = argparse.ArgumentParser(prog="facepaint bench --gui")
    p.add_argument("--bundle")
    p.add_argument("--photo", help="photo to edit (--gui default: the astronaut sample enlarged to 12 MP)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"))
    p.add_argument("--strokes", type=int)
    p.add_argument("--edits", type=int, help="soak: this many actions in the default mix")
    p.add_argument("--transfers", type=int)
    p.add_argument("--sliders", type=int)
    p.add_argument("--undos", type=int, help="soak: undo and redo steps")
    p.add_argument("--seed", type=int)
    a = p.parse_args(list(argv))
    return {**kw, **{k: v for k, v in vars(a).items() if v is not None}}


def rss_mb() -> float:
    """The process's resident memory in MiB (the peak, where /proc is not available)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def mouse_event(canvas, kind: str, x: float, y: float) -> QMouseEvent:
    """A left-button ``press``, ``move`` or ``release`` at image point (x, y) of the canvas, as Qt
    would deliver a real one."""
    L, NB = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton
    etype, button, buttons = {
        "press": (QEvent.Type.MouseButtonPress, L, L),
        "move": (QEvent.Type.MouseMove, NB, L),
        "release": (QEvent.Type.MouseButtonRelease, L, NB),
    }[kind]
    pos = canvas.image_to_widget(x, y)
    gpos = QPointF(canvas.mapToGlobal(pos.toPoint()))
    return QMouseEvent(etype, pos, gpos, button, buttons, Qt.KeyboardModifier.NoModifier)


def send_mouse(canvas, kind: str, x: float, y: float) -> None:
    """Deliver ``mouse_event(canvas, kind, x, y)`` to the canvas synchronously."""
    QApplication.sendEvent(canvas, mouse_event(canvas, kind, x, y))


class Harness:
    """The real main window, offscreen, with the model loaded and a photo's first result on screen."""

    def __init__(self, bundle, photo, device, size, timeout_s, photo_sized: bool = False):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before the QApplication exists
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
        if photo is None and photo_sized:
            photo = photo_sized_sample(Path(self.tmp.name) / "astronaut-12mp.jpg")
        self.photo = photo
        if photo is None:
            samples = sample_paths()
            photo = samples[0] if samples else synthetic_photo(Path(self.tmp.name) / "face.png")
        win.open_path(photo)
        self.wait(lambda: self.ctl.doc is not None or self.ctl.last_error is not None, "the photo")
        if self.ctl.doc is None:
            raise RuntimeError(f"GUI benchmark: {self.ctl.last_error}")
        self.settle()
        doc = self.ctl.doc
        self.R = doc.resolution  # the painted mask's side (strokes are placed in its coordinates)
        # a brush 1/32 of the crop wide, in photo pixels (the toolbar's unit)
        crop_px = doc.photo_px * doc.prepared.work_scale
        win.toolbar.size.setValue(max(2, round(doc.prepared.parsed_mask.shape[0] / 32 * crop_px)))

    def wait(self, cond, what: str) -> None:
        """Pump Qt events until ``cond()`` holds; a TimeoutError names ``what`` after ``timeout_s``."""
        end = time.perf_counter() + self.timeout_s
        while not cond():
            if time.perf_counter() > end:
                raise TimeoutError(f"GUI benchmark: timed out waiting for {what}")
            self.app.processEvents()
            time.sleep(0.001)

    def settle(self) -> None:
        """Wait until the worker is idle and the result on screen belongs to the current state."""
        self.wait(lambda: self.client.idle and self.ctl.result_is_current, "the result")

    def mouse(self, kind: str, x: float, y: float) -> float:
        """Send a mouse event to the canvas; returns how many milliseconds the UI thread spent on it."""
        ev = mouse_event(self.canvas, kind, x, y)
        t0 = time.perf_counter()
        self.app.sendEvent(self.canvas, ev)
        return (time.perf_counter() - t0) * 1000.0

    def stroke(self, i: int, move_ms: list[float] | None = None) -> None:
        """Brush the ``i``-th horizontal stroke (press, eight moves, release), timing the moves."""
        R = self.R
        y = R * (0.25 + 0.5 * ((i * 0.37) % 1.0))
        # Pick a region the row does not already have everywhere: a stroke that changes no pixel
        # produces no new result to wait for.
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
        """Close the window without an unsaved-changes prompt and remove the temporary folder."""
        self.ctl.undo_stack.setClean()
        self.win.close()
        self.win.deleteLater()
        self.app.processEvents()
        self.tmp.cleanup()


@contextlib.contextmanager
def harness(o: dict):
    """A ``Harness`` built from an ``options`` dict, closed again when the block ends."""
    h = Harness(
        o.get("bundle"),
        o.get("photo"),
        o.get("device"),
        o.get("size", (1400, 900)),
        o.get("timeout_s", 120.0),
        bool(o.get("photo_sized", False)),
    )
    try:
        yield h
    finally:
        h.close()
