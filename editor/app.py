"""Start the editor: ``facepaint [PHOTO]`` ends up in ``run(argv)``.

``run`` takes the arguments after the program name, e.g. ``["photo.jpg"]`` or
``["--bundle", "resources/models/default", "photo.jpg"]``, and returns the exit status.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

from editor.engine_client import EngineClient
from editor.mainwindow import MainWindow
from editor.panels.gallery import sample_paths
from editor.qtcompat import guard_singleton_refcounts
from editor.settings import APPLICATION, ORGANISATION, Settings

guard_singleton_refcounts()  # before any window exists: see editor.qtcompat


#: Prepared references the editor's engine keeps (each holds its decoded photo); older ones are dropped
#: and prepared again from their file when an edit needs them.
EDITOR_MAX_REFERENCES = 20  # at least one per region, so that any single state can render


def engine_factory(
    bundle_path: str | Path | None = None,
    device: str | None = None,
    detector: str = "auto",
    max_references: int = EDITOR_MAX_REFERENCES,
):
    """A callable that builds the FaceEngine; it runs inside the worker thread. ``build(device="cpu")``
    rebuilds it on the CPU (the fallback after a GPU out-of-memory error)."""
    chosen = device

    def build(device: str | None = None):
        from engine.bundle import default_bundle_path, load_bundle
        from engine.session import FaceEngine

        path = Path(bundle_path) if bundle_path else default_bundle_path()
        dev = device or chosen
        bundle = load_bundle(path, device=None if dev == "auto" else dev)
        return FaceEngine(bundle, detector=detector, max_references=max_references)

    return build


def apply_theme(app: QApplication) -> None:
    """A dark Fusion theme: photos read better on a neutral dark background."""
    app.setStyle("Fusion")
    pal = QPalette()
    dark, mid, text = QColor(45, 45, 48), QColor(60, 60, 64), QColor(225, 225, 230)
    for role, colour in (
        (QPalette.ColorRole.Window, dark),
        (QPalette.ColorRole.WindowText, text),
        (QPalette.ColorRole.Base, QColor(32, 32, 35)),
        (QPalette.ColorRole.AlternateBase, mid),
        (QPalette.ColorRole.ToolTipBase, QColor(250, 250, 220)),
        (QPalette.ColorRole.ToolTipText, QColor(20, 20, 20)),
        (QPalette.ColorRole.Text, text),
        (QPalette.ColorRole.Button, mid),
        (QPalette.ColorRole.ButtonText, text),
        (QPalette.ColorRole.Highlight, QColor(64, 120, 200)),
        (QPalette.ColorRole.HighlightedText, QColor(255, 255, 255)),
        (QPalette.ColorRole.PlaceholderText, QColor(140, 140, 145)),
    ):
        pal.setColor(role, colour)
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText, QPalette.ColorRole.WindowText):
        pal.setColor(QPalette.ColorGroup.Disabled, role, QColor(120, 120, 125))
    app.setPalette(pal)


def get_app() -> QApplication:
    app = QApplication.instance()
    if app is None:
        app = QApplication([sys.argv[0] if sys.argv else "facepaint"])
    app.setOrganizationName(ORGANISATION)
    app.setApplicationName(APPLICATION)
    return app


def create_window(
    *,
    factory=None,
    settings: Settings | None = None,
    synchronous: bool = False,
    theme: bool = True,
    autosave: bool = True,
) -> MainWindow:
    """Build the main window and start its engine worker (the model loads in the background)."""
    app = get_app()
    if theme:
        apply_theme(app)
    client = EngineClient(factory or engine_factory(), synchronous=synchronous)
    win = MainWindow(client, settings or Settings(), autosave=autosave)
    client.setParent(win)
    client.start()
    return win


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="facepaint", description="FacePaint: paint and restyle faces.")
    p.add_argument("photo", nargs="?", help="a photo (or a saved .json session) to open")
    p.add_argument("--bundle", help="model bundle folder (default: the shipped one, or $FACEPAINT_BUNDLE)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default=None, help="where the model runs")
    p.add_argument("--settings", help="use this INI file for settings instead of the user's")
    return p.parse_args(list(argv))


def initial_path(photo: str | None, settings: Settings) -> Path | None:
    """The photo to open at start: the argument, or on the very first launch a bundled sample."""
    if photo:
        return Path(photo)
    if not settings.launched_before:
        samples = sample_paths()
        if samples:
            return samples[0]
    return None


def run(argv: Sequence[str] | None = None, *, on_window: Callable[[MainWindow], object] | None = None) -> int:
    """Open the editor and run the event loop until it quits; returns the exit status.

    ``on_window``, when given, is called with the new main window before it is shown and before any
    document is opened or restored, so a caller (a test driver, say) can attach to its signals.
    """
    args = parse_args(sys.argv[1:] if argv is None else argv)
    app = get_app()
    settings = Settings(args.settings)
    win = create_window(factory=engine_factory(args.bundle, args.device), settings=settings)
    path = initial_path(args.photo, settings)
    settings.mark_launched()
    if on_window is not None:
        on_window(win)
    win.show()
    if win.offer_restore():
        path = None  # the restored document wins over the photo argument
    if path is not None:
        if not path.exists():
            win.show_error(f"{path} does not exist.")
        else:
            win.open_path(path)
    return int(app.exec())


if __name__ == "__main__":
    raise SystemExit(run())
