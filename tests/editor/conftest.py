"""Editor test fixtures: offscreen Qt, temporary settings, a real FaceEngine on the tiny bundle."""

from __future__ import annotations

import os

os.environ["QT_QPA_PLATFORM"] = "offscreen"  # before anything imports Qt
os.environ.setdefault("QT_DRIVER", "PySide6")

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from tests.engine.session_fixtures import LayoutParser, face_layout, textured_photo  # noqa: E402

pytestmark = pytest.mark.gui


def write_photo(path, h: int = 80, w: int = 72, seed: int = 0):
    cv2.imwrite(str(path), cv2.cvtColor(textured_photo(h, w, seed), cv2.COLOR_RGB2BGR))
    return path


@pytest.fixture
def settings(tmp_path):
    from editor.settings import Settings

    return Settings(tmp_path / "settings.ini")


@pytest.fixture
def photo(tmp_path):
    return write_photo(tmp_path / "photo.png")


@pytest.fixture
def ref_photo(tmp_path):
    return write_photo(tmp_path / "reference.png", 90, 90, seed=7)


@pytest.fixture
def make_factory(tiny_bundle):
    """factory(**overrides) -> a callable building a real FaceEngine on the tiny bundle."""

    def make(**kw):
        def build():
            from engine.bundle import load_bundle
            from engine.session import FaceEngine

            return FaceEngine(
                load_bundle(tiny_bundle, device="cpu"), parser=LayoutParser(), detector="skin", **kw
            )

        return build

    return make


@pytest.fixture
def window(qtbot, make_factory, settings):
    """A main window with a threaded engine client (the real one), not yet holding a photo."""
    from editor.app import create_window

    win = create_window(factory=make_factory(), settings=settings, theme=False)
    win.ask_unsaved = lambda: "discard"
    qtbot.addWidget(win)
    win.resize(1000, 700)
    win.show()
    qtbot.waitUntil(
        lambda: win.client.engine is not None or win.client.engine_error is not None, timeout=20000
    )
    yield win
    win.ctl.undo_stack.setClean()
    win.close()


def wait_idle(qtbot, win, timeout=20000):
    """Until the worker has nothing queued and the shown result is the latest one requested."""
    qtbot.waitUntil(lambda: win.client.idle, timeout=timeout)
    if win.ctl.doc is not None:
        qtbot.waitUntil(lambda: win.ctl.result_is_current, timeout=timeout)


@pytest.fixture
def opened(window, qtbot, photo):
    window.open_path(photo)
    qtbot.waitUntil(lambda: window.ctl.doc is not None, timeout=20000)
    wait_idle(qtbot, window)
    return window


__all__ = ["face_layout", "np", "wait_idle", "write_photo"]
