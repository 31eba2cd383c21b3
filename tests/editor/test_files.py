"""Export, sessions, errors, settings and the unsaved-changes guard."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from editor.app import initial_path, parse_args
from editor.settings import Settings
from engine.imageio import load_image, load_mask
from engine.labels import INDEX
from engine.session import EditSession, EngineError, read_session_file
from tests.editor.conftest import wait_idle
from tests.editor.helpers import stroke_image


def test_export_matches_the_session_render_at_full_size(opened, qtbot, tmp_path, make_factory, ref_photo):
    win = opened
    ctl = win.ctl
    ctl.select_region(INDEX["hair"])
    stroke_image(win.canvas, [(10.5, 30.5), (50.5, 34.5)])
    ctl.transfer(str(ref_photo), [INDEX["cloth"]])
    wait_idle(qtbot, win)
    assert win.isWindowModified()
    out, mask, sess = tmp_path / "out.png", tmp_path / "out_mask.png", tmp_path / "out.json"
    done = []
    ctl.export(out, mask_path=mask, session_path=sess, on_done=done.append)
    qtbot.waitUntil(lambda: bool(done), timeout=20000)
    exported = load_image(out).rgb
    assert exported.shape == (80, 72, 3), "export is at the photo's full size"
    assert np.array_equal(load_mask(mask), ctl.doc.prepared.mask_in_photo(ctl.doc.state.mask)), "in the photo's frame"
    assert load_mask(mask).shape == exported.shape[:2]
    engine = make_factory()()
    prep, state = read_session_file(sess, engine)
    assert state.same_as(ctl.doc.state)
    assert np.array_equal(EditSession(engine, prep, state).render_full(), exported)
    assert np.array_equal(engine.render(prep, state), ctl.result), "the canvas shows the session's render"
    assert not win.isWindowModified() and "Exported" in win.status.last_message
    # the saved session reopens with the same state
    win.open_path(sess)
    qtbot.waitUntil(lambda: ctl.doc is not None and ctl.doc.session_path == sess, timeout=20000)
    wait_idle(qtbot, win)
    assert ctl.doc.state.same_as(state) and "out.json" in win.windowTitle()


def test_worker_errors_show_a_message_and_the_app_stays_usable(window, qtbot, tmp_path, photo):
    win = window
    bad = tmp_path / "broken.png"
    bad.write_text("this is not an image")
    win.open_path(bad)
    qtbot.waitUntil(lambda: win.error_box is not None and win.error_box.isVisible(), timeout=20000)
    assert "broken.png" in win.error_box.text() and win.status.last_was_error
    assert win.ctl.doc is None and not win.error_box.isModal()
    win.open_path(photo)
    qtbot.waitUntil(lambda: win.ctl.doc is not None, timeout=20000)
    wait_idle(qtbot, win)
    # a failing regenerate: the message appears, the last good result stays, the next edit works
    engine = win.client.engine
    real = engine.render
    calls = []

    def flaky(prep, state):
        calls.append(1)
        if len(calls) == 1:
            raise EngineError("the generator ran out of memory")
        return real(prep, state)

    engine.render = flaky
    good = win.ctl.result.copy()
    win.style_panel.randomise.click()
    qtbot.waitUntil(lambda: "out of memory" in win.error_box.text(), timeout=20000)
    assert np.array_equal(win.ctl.result, good)
    win.style_panel.randomise.click()
    wait_idle(qtbot, win)
    assert not np.array_equal(win.ctl.result, good)


def test_missing_bundle_is_reported_not_fatal(qtbot, settings, tmp_path, photo):
    from editor.app import create_window, engine_factory

    win = create_window(factory=engine_factory(tmp_path / "no-such-bundle"), settings=settings, theme=False)
    qtbot.addWidget(win)
    qtbot.waitUntil(lambda: win.error_box is not None and win.error_box.isVisible(), timeout=20000)
    assert "no-such-bundle" in win.error_box.text()
    win.open_path(photo)
    qtbot.waitUntil(lambda: "Could not open" in win.error_box.text(), timeout=20000)
    win.close()


def test_settings_persist_and_closing_asks_about_unsaved_edits(window, qtbot, photo, tmp_path, settings):
    win = window
    win.open_path(photo)
    qtbot.waitUntil(lambda: win.ctl.doc is not None, timeout=20000)
    win.toolbar.size.setValue(5)
    win.toolbar.step_size(1)
    assert win.ctl.brush_size == 6
    folder = tmp_path / "refs"
    folder.mkdir()
    (folder / "a.png").write_bytes(photo.read_bytes())
    win.gallery.add_entries([str(folder)])
    assert str((folder / "a.png").resolve()) in win.gallery.paths()
    stroke_image(win.canvas, [(20.5, 20.5)])
    wait_idle(qtbot, win)
    assert win.isWindowModified() and win.windowTitle().startswith("photo.png[*]")
    asked = []
    win.ask_unsaved = lambda: asked.append(1) or "cancel"
    assert not win.close() and win.isVisible() and asked
    win.ask_unsaved = lambda: "discard"
    assert win.close()
    again = Settings(settings.q.fileName())
    assert again.brush_size == 6
    assert again.recent_files()[0] == str(photo.resolve())
    assert again.gallery_entries() == [str(folder.resolve())]
    assert again.window_geometry() is not None


def test_command_line_and_first_launch(settings, tmp_path, monkeypatch):
    a = parse_args(["--bundle", "b", "face.jpg"])
    assert a.photo == "face.jpg" and a.bundle == "b"
    assert initial_path("x.png", settings) == Path("x.png")
    sample = tmp_path / "sample.png"
    sample.write_bytes(b"")
    monkeypatch.setattr("editor.app.sample_paths", lambda: [sample])
    assert initial_path(None, settings) == sample
    settings.mark_launched()
    assert initial_path(None, settings) is None
    with pytest.raises(SystemExit):
        parse_args(["--device", "tpu"])


def test_save_on_close_saves_the_session_then_closes(window, qtbot, photo, tmp_path):
    win = window
    win.open_path(photo)
    qtbot.waitUntil(lambda: win.ctl.doc is not None, timeout=20000)
    win.style_panel.random_style()
    sess = tmp_path / "kept.json"
    win.ctl.doc.session_path = sess  # as if saved once before: Save needs no dialog
    win.ask_unsaved = lambda: "save"
    assert not win.close(), "closing waits for the save"
    qtbot.waitUntil(lambda: not win.isVisible(), timeout=20000)
    assert sess.is_file() and win.ctl.undo_stack.isClean()
