"""Save screenshots of the editor's main states (offscreen) into a folder, to look at the UI.

    python scripts/screenshots.py OUT_DIR [--bundle DIR] [--photo FILE] [--reference FILE ...]

States: 01 welcome (no photo), 02 opened, 03 mid-edit (a stroke in progress after a transfer),
04 split view, 05 gallery drag (drop highlight over a region), 06 an error message.

Without a photo it uses the bundled samples. ``--random-weights`` is for checking the layout before a
trained bundle exists: tiny random networks, synthetic faces whose exact labels stand in for the parser
(the result pane then shows untrained output).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _wait(app, cond, what: str, timeout_s: float = 300.0) -> None:
    end = time.perf_counter() + timeout_s
    while not cond():
        if time.perf_counter() > end:
            raise SystemExit(f"screenshots: timed out waiting for {what}")
        app.processEvents()
        time.sleep(0.005)


def _random_weights_setup(tmp: Path, resolution: int = 256):
    """(bundle path, photo, references, engine factory) for a layout check without a trained bundle."""
    import cv2

    from engine.bundle import load_bundle, save_bundle
    from engine.session import FaceEngine
    from tests.conftest import build_tiny_nets
    from training.data.synthetic import render_face

    bundle = save_bundle(tmp / "random-bundle", build_tiny_nets(), resolution=resolution)
    labels: dict[bytes, object] = {}
    paths = []
    for seed in (3, 11, 12, 14):
        s = render_face(seed, resolution)
        p = tmp / ("photo.png" if seed == 3 else f"reference_{seed}.png")
        cv2.imwrite(str(p), cv2.cvtColor(s.image, cv2.COLOR_RGB2BGR))
        labels[s.image.tobytes()] = s.label
        paths.append(p)

    class KnownLabels:
        """Returns the synthetic face's exact label map (the crop is the whole photo)."""

        def __init__(self, fallback):
            self.fallback = fallback

        def parse(self, crop):
            return labels.get(crop.tobytes()) if crop.tobytes() in labels else self.fallback.parse(crop)

    def factory():
        from engine.parsing import make_parser

        b = load_bundle(bundle, device="cpu")
        eng = FaceEngine(b, parser=KnownLabels(make_parser("bundle", bundle=b)))
        prepare = eng.prepare
        eng.prepare = lambda photo, **kw: prepare(photo, **{"align": False, **kw})
        return eng

    return bundle, paths[0], paths[1:], factory


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path, help="folder for the PNG files")
    ap.add_argument("--bundle", help="model bundle (default: the shipped one)")
    ap.add_argument("--photo", help="photo to open (default: the first bundled sample)")
    ap.add_argument("--reference", action="append", default=[], help="reference photo(s) for the gallery")
    ap.add_argument("--size", default="1400x900", help="window size, WxH")
    ap.add_argument("--random-weights", action="store_true", help="layout check without a trained bundle")
    a = ap.parse_args(argv)

    import numpy as np
    from PySide6.QtCore import QPointF, Qt
    from PySide6.QtGui import QDragMoveEvent, QPainter

    from editor.app import create_window, engine_factory, get_app
    from editor.dnd import reference_mime
    from editor.panels.gallery import sample_paths
    from editor.settings import Settings
    from engine.labels import INDEX

    a.out.mkdir(parents=True, exist_ok=True)
    tmp_dir = tempfile.TemporaryDirectory(prefix="facepaint-shots-")
    tmp = Path(tmp_dir.name)
    w, h = (int(v) for v in a.size.lower().split("x"))
    refs = [Path(r) for r in a.reference]
    if a.random_weights:
        _, photo, more_refs, factory = _random_weights_setup(tmp)
        refs = refs or more_refs
    else:
        factory = engine_factory(a.bundle)
        samples = sample_paths()
        photo = Path(a.photo) if a.photo else (samples[0] if samples else None)
        if photo is None:
            raise SystemExit("screenshots: no --photo given and resources/samples is empty")
    settings = Settings(tmp / "settings.ini")
    ref_dir = tmp / "refs"
    ref_dir.mkdir()
    for r in refs:
        (ref_dir / r.name).write_bytes(r.read_bytes())
    if refs:
        settings.set_gallery_entries([str(ref_dir)])

    app = get_app()
    win = create_window(factory=factory, settings=settings)
    win.ask_unsaved = lambda: "discard"
    win.resize(w, h)
    win.show()
    ctl, canvas, client = win.ctl, win.canvas, win.client

    def shot(name: str) -> None:
        for _ in range(5):
            app.processEvents()
        pm = win.grab()
        box = win.error_box
        if box is not None and box.isVisible():  # a separate top-level window: paint it on top
            p = QPainter(pm)
            bp = box.grab()
            p.drawPixmap((pm.width() - bp.width()) // 2, (pm.height() - bp.height()) // 3, bp)
            p.end()
        path = a.out / f"{name}.png"
        pm.save(str(path))
        print(path)

    _wait(app, lambda: client.engine is not None or client.engine_error is not None, "the model")
    shot("01_welcome")
    win.open_path(photo)
    _wait(app, lambda: ctl.doc is not None or ctl.last_error is not None, "the photo")
    if ctl.doc is None:
        raise SystemExit(f"screenshots: {ctl.last_error}")
    _wait(app, lambda: ctl.result_is_current and client.idle, "the first result")
    shot("02_opened")

    R = ctl.doc.resolution
    gallery = win.gallery.paths()
    ref = None
    for g in gallery:  # the first reference that has hair
        ctl.last_error = None
        ctl.transfer(g, [INDEX["hair"]])
        _wait(app, lambda: client.idle and ctl.result_is_current, "the transfer")
        if ctl.last_error is None:
            ref = g
            break
        win.error_box.hide()
    ctl.select_region(INDEX["hair"])
    win.toolbar.size.setValue(max(2, R // 20))
    from PySide6.QtCore import QEvent
    from PySide6.QtGui import QMouseEvent

    def mouse(kind, x, y, button, buttons):
        pos = canvas.image_to_widget(x, y)
        app.sendEvent(
            canvas,
            QMouseEvent(
                kind,
                pos,
                QPointF(canvas.mapToGlobal(pos.toPoint())),
                button,
                buttons,
                Qt.KeyboardModifier.NoModifier,
            ),
        )

    L, NB = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton
    mouse(QEvent.Type.MouseButtonPress, R * 0.25, R * 0.2, L, L)
    for k in range(12):
        mouse(QEvent.Type.MouseMove, R * (0.25 + 0.02 * k), R * (0.2 - 0.004 * k), NB, L)
    _wait(app, lambda: client.idle, "the stroke preview")
    shot("03_mid_edit")
    mouse(QEvent.Type.MouseButtonRelease, R * 0.47, R * 0.15, L, NB)
    _wait(app, lambda: client.idle and ctl.result_is_current, "the stroke")

    win.set_mode("split")
    canvas.split = 0.5
    shot("04_split")

    win.set_mode("side")
    if ref is not None:
        win.gallery.list.setCurrentItem(win.gallery.item_for(ref))
        hair = np.argwhere(ctl.doc.state.mask == INDEX["hair"])
        y, x = hair[len(hair) // 2] if len(hair) else (R // 2, R // 2)
        pos = canvas.image_to_widget(x + 0.5, y + 0.5)
        md = reference_mime(ref)  # keep a reference: the event only points at the mime data
        ev = QDragMoveEvent(pos.toPoint() if hasattr(pos, "toPoint") else pos, Qt.DropAction.CopyAction, md, L, Qt.KeyboardModifier.NoModifier)
        canvas.dragMoveEvent(ev)
        shot("05_gallery_drag")
        canvas.clear_drop_hint()

    bad = tmp / "holiday.jpg"
    bad.write_bytes(b"not really a jpeg")
    win.open_path(bad)
    _wait(app, lambda: win.error_box is not None and win.error_box.isVisible(), "the error message")
    shot("06_error")
    ctl.undo_stack.setClean()
    win.close()
    tmp_dir.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
