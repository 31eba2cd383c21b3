"""Autosave, the compact undo history and restoring after a crash (in-process; the SIGKILL test is in
test_recovery.py)."""

from __future__ import annotations

import json
import shutil
import socket
import zlib
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from editor.autosave import JOURNAL, LOCK, SNAPSHOT, data_dir, find_orphans
from editor.recovery import read_autosave
from engine import maskops
from engine.history import (
    HISTORY_LIMIT,
    CompactDelta,
    FreeOp,
    History,
    HistoryError,
    MaskOp,
    SettingsOp,
    StyleOp,
    base_of,
    op_from_record,
    state_digest,
)
from engine.labels import INDEX
from engine.session import EditState, FreeRegion, Override, SessionFileError
from tests.editor.conftest import wait_idle
from tests.editor.helpers import stroke_image

HAIR, SKIN = INDEX["hair"], INDEX["skin"]


@pytest.fixture(autouse=True)
def data(monkeypatch, tmp_path):
    d = tmp_path / "data"
    monkeypatch.setenv("FACEPAINT_DATA_DIR", str(d))
    monkeypatch.delenv("FACEPAINT_RESTORE", raising=False)
    return d


def _edit(win, qtbot, ref_photo=None, n: int = 3):
    ctl = win.ctl
    for i in range(n):
        ctl.select_region((HAIR, SKIN, 18)[i % 3])
        stroke_image(win.canvas, [(8.5 + 3 * i, 20.5 + 4 * i), (50.5, 24.5 + 4 * i)])
    ctl.set_color(HAIR, (200, 30, 30))
    if ref_photo is not None:
        count = ctl.undo_stack.count()
        ctl.transfer(str(ref_photo), [INDEX["cloth"]])
        qtbot.waitUntil(lambda: ctl.undo_stack.count() == count + 1, timeout=20000)
    win.undo()
    win.undo()
    win.redo()
    wait_idle(qtbot, win)


# --------------------------------------------------------------------------------------- history
def test_data_dir_precedence(monkeypatch, tmp_path, data):
    from editor.settings import Settings

    assert data_dir(Settings(tmp_path / "s.ini")) == data
    monkeypatch.delenv("FACEPAINT_DATA_DIR")
    assert data_dir(Settings(tmp_path / "s.ini")) == tmp_path / "s-data"
    assert data_dir(None).parts[-2:] == ("FacePaint", "FacePaint")


def test_strokes_are_stored_as_small_compressed_boxes(opened, qtbot):
    win = opened
    stack, mask = win.ctl.undo_stack, win.ctl.doc.state.mask
    assert stack.undoLimit() == HISTORY_LIMIT
    for i in range(12):
        stroke_image(win.canvas, [(5.5 + i, 5.5 + 4 * i), (30.5 + i, 8.5 + 4 * i)])
    assert stack.count() == 12 and len(stack.commands) == 12
    for op in stack.ops:
        assert isinstance(op, MaskOp) and isinstance(op.delta, CompactDelta)
        assert op.delta.shape[0] < mask.shape[0] and op.delta.nbytes < mask.nbytes / 4
    assert stack.nbytes < 12 * 2048
    wait_idle(qtbot, win)


def fake_prepared(mask):
    """Just enough of a PreparedImage for a Document without an engine."""
    return SimpleNamespace(parsed_mask=mask, work_mask=mask, crop=np.zeros(mask.shape + (3,), np.uint8), source="")


def _mask_ops(seed: int, n: int, size: int = 24):
    rng = np.random.default_rng(seed)
    m = rng.integers(0, 19, (size, size)).astype(np.uint8)
    base = EditState(mask=m)
    ops, st_ = [], base
    for i in range(n):
        if i % 3 == 2:
            op = StyleOp(f"s{i}", [(i % 19, st_.override(i % 19), Override("random", seed=i))])
        else:
            pts = rng.uniform(-3, size + 3, (3, 2))
            op = MaskOp(f"m{i}", CompactDelta.from_delta(maskops.brush(st_.mask, pts, 2, i % 19)))
        ops.append(op)
        st_ = op.transform(st_, True)
    return base, ops


def test_history_stack_and_replay_agree_at_the_limit(qapp):
    from editor.commands import HistoryStack, OpCommand
    from editor.document import Document

    base, ops = _mask_ops(1, 9)
    doc = Document(fake_prepared(base.mask), base)
    stack, h = HistoryStack(limit=5), History(base, limit=5)
    stack.reset(base)
    for i, op in enumerate(ops):
        stack.push(OpCommand(doc, op))
        h.push(op)
        if i == 6:
            stack.undo(), stack.undo(), h.undo(), h.undo()
    assert stack.count() == len(h.ops) == 5 and stack.index() == h.index
    assert [c.op for c in stack.commands] == h.ops
    assert doc.state.same_as(h.state)
    assert base_of(doc.state, stack.ops, stack.index()).same_as(h.base) and stack.base.same_as(h.base)
    while stack.canUndo():
        stack.undo()
    assert doc.state.same_as(h.base)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31), n=st.integers(1, 8), harm=st.sampled_from(["mrsa", "msca", "off"]))
def test_records_round_trip_exactly(seed, n, harm):
    base, ops = _mask_ops(seed, n)
    rng = np.random.default_rng(seed)
    fr = FreeRegion.from_mask("r" * 16, rng.random(base.mask.shape) > 0.5)
    ops += [SettingsOp("h", {"harmonizer": "mrsa"}, {"harmonizer": harm}), FreeOp("f", (), (fr,))]
    st_ = base
    for op in ops:
        back = op_from_record(json.loads(json.dumps(op.record())), base.mask.shape)
        assert back.record() == op.record()
        fwd = op.transform(st_, True)
        assert back.transform(st_, True).same_as(fwd) and back.transform(fwd, False).same_as(st_)
        st_ = fwd
    assert state_digest(st_) == state_digest(History(base, ops, len(ops)).state)


def _good_mask_record():
    m = np.zeros((8, 8), np.uint8)
    return MaskOp("x", CompactDelta.from_delta(maskops.rectangle(m, 1, 1, 3, 3, 5))).record()


def _with(**kw):
    return {**_good_mask_record(), **kw}


BAD_RECORDS = [
    None,
    [],
    {"t": "teleport"},
    _with(box=[0, 99, 0, 2]),
    _with(box=[3, 1, 0, 2]),
    _with(box=["0", 1, 0, 1]),
    _with(before="!!"),
    _with(after="eJwDAAAAAAE="),  # valid zlib of nothing: wrong size
    _with(after=__import__("base64").b64encode(zlib.compress(bytes([40]) * 9)).decode()),  # label 40
    _with(after=__import__("base64").b64encode(zlib.compress(bytes(10**6))).decode()),  # a zip bomb
    {"t": "style", "changes": [["tail", None, {"kind": "own"}]]},
    {"t": "style", "changes": [["hair", None, {"kind": "random", "seed": -1}]]},
    {"t": "settings", "old": {"alpha": 1.0}, "new": {"alpha": 99}},
    {"t": "settings", "old": {"colour": 1}, "new": {"colour": 2}},
    {"t": "free", "old": [], "new": [{"ref": "a", "shape": [8, 8], "bits": "AA=="}]},
]


@pytest.mark.parametrize("rec", BAD_RECORDS)
def test_bad_history_records_are_refused(rec):
    with pytest.raises(HistoryError):
        op_from_record(rec, (8, 8))


# -------------------------------------------------------------------------------------- autosave
def test_nothing_is_written_before_the_first_edit_and_clean_close_removes_it(window, qtbot, photo, data):
    win = window
    win.open_path(photo)
    qtbot.waitUntil(lambda: win.ctl.doc is not None, timeout=20000)
    wait_idle(qtbot, win)
    assert win.autosave.folder is None and not (data / "autosave").exists()
    stroke_image(win.canvas, [(20.5, 20.5), (40.5, 22.5)])
    folder = win.autosave.folder
    assert (folder / SNAPSHOT).is_file() and (folder / LOCK).exists()
    assert folder.parent == data / "autosave"
    wait_idle(qtbot, win)
    win.close()
    assert not folder.exists(), "a clean close removes the autosave"


def test_every_committed_edit_is_on_disk_and_reads_back(opened, qtbot, ref_photo, make_factory):
    win = opened
    _edit(win, qtbot, ref_photo)
    folder, ctl = win.autosave.folder, win.ctl
    lines = (folder / JOURNAL).read_text().splitlines()
    assert len(lines) == ctl.undo_stack.count() - 1 + 3  # the first edit is in the snapshot; 3 undo/redo
    assert json.loads(lines[-1])["digest"] == state_digest(ctl.doc.state)
    res = read_autosave(make_factory()(), folder)
    assert res.state.same_as(ctl.doc.state) and res.note == ""
    assert res.history.index == ctl.undo_stack.index() and len(res.history.ops) == ctl.undo_stack.count()
    assert res.history.base.same_as(base_of(ctl.doc.state, ctl.undo_stack.ops, ctl.undo_stack.index()))
    assert win.autosave.append_ms and max(win.autosave.append_ms) < 1000


def test_compaction_rewrites_the_snapshot(opened, qtbot, make_factory):
    win = opened
    win.autosave.compact_records = 3
    _edit(win, qtbot, None, n=6)
    folder = win.autosave.folder
    assert len((folder / JOURNAL).read_text().splitlines()) < 3
    assert len(win.autosave.snapshot_ms) >= 3
    res = read_autosave(make_factory()(), folder)
    assert res.state.same_as(win.ctl.doc.state) and res.history.index == win.ctl.undo_stack.index()


def test_a_torn_or_wrong_journal_line_keeps_everything_before_it(opened, qtbot, make_factory):
    win = opened
    _edit(win, qtbot, None, n=4)
    folder, engine = win.autosave.folder, make_factory()()
    journal = folder / JOURNAL
    good = journal.read_bytes()
    with open(journal, "ab") as f:
        f.write(b'{"seq": 99, "op": "pu')  # what a kill in the middle of a write leaves
    res = read_autosave(engine, folder)
    assert res.state.same_as(win.ctl.doc.state) and "partly written" in res.note
    lines = good.decode().splitlines()
    rec = json.loads(lines[2])
    rec["digest"] = "0" * 16
    journal.write_text("\n".join(lines[:2] + [json.dumps(rec)] + lines[3:]) + "\n")
    res = read_autosave(engine, folder)
    assert res.state.same_as(read_autosave_state_after(engine, folder, lines[:2]))
    assert "did not reproduce" in res.note and res.replayed == 2


def read_autosave_state_after(engine, folder, lines):
    (folder / JOURNAL).write_text("\n".join(lines) + "\n")
    return read_autosave(engine, folder).state


def _crash_copy(win) -> object:
    """What a killed editor leaves: the folder without a live lock."""
    src = win.autosave.folder
    dst = src.parent / (src.name + "-crashed")
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns(LOCK))
    return dst


def test_restore_brings_back_state_and_history(opened, qtbot, ref_photo, make_factory, settings):
    _check_restore(opened, qtbot, ref_photo, make_factory, settings)


def test_restore_on_a_working_grid_finer_than_the_crop(window, qtbot, ref_photo, make_factory, settings, tmp_path):
    from tests.editor.conftest import write_photo

    window.open_path(write_photo(tmp_path / "photo.png", 400, 400, seed=5))
    qtbot.waitUntil(lambda: window.ctl.doc is not None, timeout=20000)
    wait_idle(qtbot, window)
    assert window.ctl.doc.prepared.work_scale > 1
    _check_restore(window, qtbot, ref_photo, make_factory, settings)


def _check_restore(win, qtbot, ref_photo, make_factory, settings):
    from editor.app import create_window

    _edit(win, qtbot, ref_photo)
    orphan = _crash_copy(win)
    expected, count, index = win.ctl.doc.state, win.ctl.undo_stack.count(), win.ctl.undo_stack.index()
    win2 = create_window(factory=make_factory(), settings=settings, theme=False)
    qtbot.addWidget(win2)
    asked = []
    win2.ask_restore = lambda o: asked.append(o.describe()) or "restore"
    assert win2.offer_restore()
    qtbot.waitUntil(lambda: win2.ctl.doc is not None, timeout=20000)
    wait_idle(qtbot, win2)
    assert asked and "photo.png" in asked[0]
    ctl2 = win2.ctl
    assert ctl2.doc.state.same_as(expected) and not orphan.exists()
    assert (ctl2.undo_stack.count(), ctl2.undo_stack.index()) == (count, index)
    assert win2.isWindowModified() and "Restored" in win2.status.last_message
    assert (win2.autosave.folder / SNAPSHOT).is_file(), "the restored document is protected at once"
    win2.undo()
    assert ctl2.doc.state.override(INDEX["cloth"]) is None
    wait_idle(qtbot, win2)
    win2.ctl.undo_stack.setClean()
    win2.close()


@pytest.mark.parametrize("answer,kept", [("no", False), ("later", True)])
def test_restore_answer_from_the_environment(opened, qtbot, monkeypatch, answer, kept):
    win = opened
    _edit(win, qtbot, None)
    orphan = _crash_copy(win)
    monkeypatch.setenv("FACEPAINT_RESTORE", answer)
    win.ask_restore = lambda o: pytest.fail("must not ask")
    assert not win.offer_restore()
    assert orphan.exists() == kept and win.ctl.doc is not None


def _break(snapshot, change):
    doc = json.loads(snapshot.read_text())
    change(doc)
    snapshot.write_text(json.dumps(doc))


@pytest.mark.parametrize(
    "change,message",
    [
        (lambda d: d.update(version=99), "newer FacePaint"),
        (lambda d: d.update(format="facepaint-session"), "not a FacePaint autosave"),
        (lambda d: d["session"]["photo"].update(path="../../photo.png"), "leaves the session's folder"),
        (lambda d: d["session"]["photo"].pop("sha256"), "sha256"),
        (lambda d: d["history"].update(index=999), "history"),
        (lambda d: d["history"]["ops"].append({"t": "mask", "box": [0, 1, 0, 1]}), "history"),
    ],
)
def test_a_bad_autosave_is_refused_clearly_and_kept(opened, qtbot, change, message):
    win = opened
    _edit(win, qtbot, None)
    orphan = _crash_copy(win)
    _break(orphan / SNAPSHOT, change)
    state = win.ctl.doc.state
    win.ask_restore = lambda o: "restore"
    assert win.offer_restore()
    qtbot.waitUntil(
        lambda: win.ctl.last_error is not None and "autosave" in win.ctl.last_error, timeout=20000
    )
    assert message in win.ctl.last_error and orphan.exists()
    assert win.ctl.doc.state is state, "the open document is untouched"


def test_a_changed_photo_is_not_restored(opened, qtbot, photo, make_factory):
    win = opened
    _edit(win, qtbot, None)
    orphan = _crash_copy(win)
    from tests.editor.conftest import write_photo

    write_photo(photo, seed=5)
    with pytest.raises(SessionFileError, match="changed since it was saved"):
        read_autosave(make_factory()(), orphan)


def test_only_orphans_of_dead_editors_are_offered(opened, qtbot, tmp_path):
    win = opened
    _edit(win, qtbot, None)
    root, live = win.autosave.root, win.autosave.folder
    assert find_orphans(root) == [], "a running editor's autosave is locked"
    dead = root / "dead-editor"
    shutil.copytree(live, dead, ignore=shutil.ignore_patterns(LOCK))
    (dead / LOCK).write_text(f"999999\nFacePaint\n{socket.gethostname()}\n")  # its process is gone
    empty = root / "never-edited"
    empty.mkdir()
    found = find_orphans(root)
    assert [o.folder for o in found] == [dead] and not empty.exists()
    assert found[0].steps >= 1 and "photo.png" in found[0].describe()
    found[0].release()


def test_an_unwritable_autosave_folder_is_reported_and_editing_goes_on(opened, qtbot, tmp_path):
    win = opened
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    win.autosave.root = blocker / "autosave"
    stroke_image(win.canvas, [(20.5, 20.5), (40.5, 22.5)])
    stroke_image(win.canvas, [(20.5, 40.5), (40.5, 42.5)])
    assert win.ctl.undo_stack.count() == 2
    assert "Autosave stopped" in win.error_box.text() and "Save the session" in win.error_box.text()
    wait_idle(qtbot, win)
