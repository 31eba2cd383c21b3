"""Crash recovery across processes (a real editor killed with SIGKILL) and worker faults: exceptions,
CPU out-of-memory, GPU out-of-memory with the fall back to the CPU, evicted references."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.history import state_digest
from engine.labels import INDEX
from engine.session import EditState
from tests.editor.conftest import wait_idle, write_photo
from tests.editor.helpers import stroke_image

REPO = Path(__file__).resolve().parents[2]
HAIR, SKIN, CLOTH = INDEX["hair"], INDEX["skin"], INDEX["cloth"]


def _progress(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


@pytest.mark.slow
def test_sigkill_after_n_strokes_restores_at_least_n_minus_1(tmp_path, tiny_bundle):
    photo = write_photo(tmp_path / "photo.png", 96, 88, seed=3)
    steps = [
        {
            "op": "stroke",
            "label": (HAIR, SKIN, CLOTH, 17)[i % 4],
            "size": 4,
            "points": [[6 + 2 * i, 8 + 5 * i], [30 + i, 10 + 5 * i], [56, 12 + 5 * i]],
        }
        for i in range(9)
    ]
    steps.insert(4, {"op": "color", "region": HAIR, "rgb": [200, 40, 40]})
    steps.insert(7, {"op": "random", "region": SKIN, "seed": 11})
    n = len(steps)
    progress = tmp_path / "progress.jsonl"
    (tmp_path / "script.json").write_text(
        json.dumps({"steps": steps, "interval_ms": 40, "progress": str(progress)})
    )
    env = {k: v for k, v in os.environ.items() if k != "FACEPAINT_RESTORE"}
    env.update(
        QT_QPA_PLATFORM="offscreen",
        OMP_NUM_THREADS="1",
        FACEPAINT_DATA_DIR=str(tmp_path / "data"),
    )
    editor_args = [
        str(photo),
        "--bundle",
        str(tiny_bundle),
        "--settings",
        str(tmp_path / "settings.ini"),
        "--device",
        "cpu",
    ]

    def scripted_editor(script: Path) -> list[str]:  # the real editor with a scripted user attached
        return [sys.executable, "-m", "benchmarks.scripted_user", str(script), *editor_args]

    cmd = scripted_editor(tmp_path / "script.json")
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        end = time.monotonic() + 120
        while not any(r.get("step") == n for r in _progress(progress)):
            assert proc.poll() is None, proc.stdout.read().decode()[-2000:]
            assert time.monotonic() < end, "the scripted editor did not finish its strokes"
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)  # right after the last stroke was committed
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(30)
    assert proc.returncode == -signal.SIGKILL
    done = [r for r in _progress(progress) if "step" in r]
    assert [r["step"] for r in done] == list(range(1, n + 1)) and not any(
        "error" in r for r in _progress(progress)
    )
    autosaves = list((tmp_path / "data" / "autosave").iterdir())
    assert len(autosaves) == 1, "the killed editor left its autosave"

    dump = tmp_path / "restored.json"
    (tmp_path / "script2.json").write_text(json.dumps({"dump": str(dump), "quit": True}))
    env.update(FACEPAINT_RESTORE="yes")
    cmd = scripted_editor(tmp_path / "script2.json")
    r = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, timeout=180)
    assert r.returncode == 0 and dump.exists(), (r.stdout + r.stderr).decode()[-3000:]
    got = json.loads(dump.read_text())
    # digest -> the undo steps the editor had then (a stroke over pixels that already have its region
    # changes nothing and adds no step)
    allowed = {done[-2]["digest"]: done[-2]["count"], done[-1]["digest"]: done[-1]["count"]}
    assert done[-1]["count"] > n // 2, "most scripted steps were real edits"
    assert got["digest"] in allowed, "the restored mask and overrides equal the state after N or N-1 steps"
    assert got["count"] >= allowed[got["digest"]], "the undo history came back too"
    state = EditState.from_json(got["state"])
    assert state_digest(state) == got["digest"] and state.override(HAIR).kind == "color"
    assert got["modified"]
    assert not list((tmp_path / "data" / "autosave").iterdir()), "the clean quit removed the autosave"


# --------------------------------------------------------------------------------- worker faults
class FakeGpuEngine:
    """A real CPU engine dressed up as a CUDA one whose renders run out of GPU memory when armed."""

    def __init__(self, inner, *, armed: bool, foreign_styles: bool):
        self.inner, self.armed, self.foreign_styles = inner, armed, foreign_styles
        self.device = torch.device("cuda")
        self.device_label = "CUDA (fake)"

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def prepare(self, *a, **k):
        prep = self.inner.prepare(*a, **k)
        if self.foreign_styles:  # as if the codes lived on the GPU: the CPU engine must encode again
            prep.styles = prep.styles.to("meta")
        return prep

    def render(self, prep, state):
        if self.armed:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return self.inner.render(prep, state)

    def render_view(self, prep, state, *args):  # what the editor's worker calls
        if self.armed:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return self.inner.render_view(prep, state, *args)


def _gpu_window(qtbot, make_factory, settings, **fake):
    from editor.app import create_window

    built = []

    def factory(device=None):
        inner = make_factory()()
        eng = inner if device == "cpu" else FakeGpuEngine(inner, **fake)
        built.append((device, eng))
        return eng

    win = create_window(factory=factory, settings=settings, theme=False)
    win.ask_unsaved = lambda: "discard"
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(lambda: win.client.engine is not None, timeout=20000)
    return win, built


def test_gpu_out_of_memory_moves_the_engine_to_the_cpu(qtbot, make_factory, settings, photo):
    win, built = _gpu_window(qtbot, make_factory, settings, armed=True, foreign_styles=True)
    fallbacks = []
    win.client.deviceFallback.connect(lambda label, msg: fallbacks.append((label, msg)))
    win.open_path(photo)
    qtbot.waitUntil(lambda: win.ctl.doc is not None, timeout=20000)
    wait_idle(qtbot, win)
    assert [d for d, _ in built] == [None, "cpu"], "rebuilt once, through the factory, on the CPU"
    assert win.client.engine is built[1][1] and "CPU" in win.client.device_label
    assert fallbacks and "moved the model to the CPU" in fallbacks[0][1]
    assert "moved the model to the CPU" in win.error_box.text() and "CPU" in win.status.device.text()
    assert win.ctl.result_is_current and np.array_equal(win.ctl.result, win.ctl.doc.crop)
    stroke_image(win.canvas, [(10.5, 30.5), (50.5, 34.5)])  # editing goes on, on the CPU
    wait_idle(qtbot, win)
    assert win.ctl.result_is_current and not np.array_equal(win.ctl.result, win.ctl.doc.crop)
    win.close()


def test_references_come_back_after_the_fallback(qtbot, make_factory, settings, photo, ref_photo):
    win, built = _gpu_window(qtbot, make_factory, settings, armed=False, foreign_styles=False)
    ctl = win.ctl
    win.open_path(photo)
    qtbot.waitUntil(lambda: ctl.doc is not None, timeout=20000)
    ctl.transfer(str(ref_photo), [CLOTH])
    qtbot.waitUntil(lambda: ctl.undo_stack.count() == 1, timeout=20000)
    wait_idle(qtbot, win)
    rid = ctl.doc.state.override(CLOTH).ref
    built[0][1].armed = True
    stroke_image(win.canvas, [(10.5, 30.5), (50.5, 34.5)])
    wait_idle(qtbot, win)
    cpu = win.client.engine
    assert built[-1] == ("cpu", cpu) and cpu.has_reference(rid), "the reference was prepared again"
    assert ctl.result_is_current and "Regenerating failed" not in (ctl.last_error or "")
    win.close()


def test_cpu_out_of_memory_is_reported_and_the_editor_recovers(opened, qtbot):
    win = opened
    engine = win.client.engine
    real, calls = engine.render, []

    def once(prep, state):
        calls.append(1)
        if len(calls) == 1:
            raise MemoryError()
        return real(prep, state)

    engine.render = once
    good = win.ctl.result.copy()
    win.style_panel.randomise.click()
    qtbot.waitUntil(lambda: "Out of memory" in (win.ctl.last_error or ""), timeout=20000)
    assert np.array_equal(win.ctl.result, good) and win.client.engine is engine
    win.style_panel.randomise.click()
    wait_idle(qtbot, win)
    assert not np.array_equal(win.ctl.result, good)


def test_a_failing_callback_or_job_is_reported_and_work_goes_on(opened, qtbot):
    client, got, errors = opened.client, [], []
    client.submit("bad", lambda e: 1, on_done=lambda v: 1 / 0, on_error=errors.append)
    client.submit("boom", lambda e: {}["missing"], on_error=errors.append)
    client.submit("good", lambda e: e.resolution, on_done=got.append)
    qtbot.waitUntil(lambda: bool(got), timeout=20000)
    assert got == [64] and len(errors) == 2
    assert "ZeroDivisionError" in errors[0] and "KeyError" in errors[1]


def test_evicted_references_are_prepared_again(qtbot, make_factory, settings, photo, ref_photo, tmp_path):
    from editor.app import create_window

    refs = [write_photo(tmp_path / f"r{i}.png", 90, 90, seed=20 + i) for i in range(2)] + [ref_photo]
    win = create_window(factory=make_factory(max_references=2), settings=settings, theme=False)
    win.ask_unsaved = lambda: "discard"
    qtbot.addWidget(win)
    qtbot.waitUntil(lambda: win.client.engine is not None, timeout=20000)
    ctl = win.ctl
    win.open_path(photo)
    qtbot.waitUntil(lambda: ctl.doc is not None, timeout=20000)
    for i, (ref, region) in enumerate(zip(refs[:2], (HAIR, CLOTH), strict=True)):
        ctl.transfer(str(ref), [region])
        qtbot.waitUntil(lambda i=i: ctl.undo_stack.count() == i + 1, timeout=20000)
    wait_idle(qtbot, win)
    first = ctl.doc.state.override(HAIR).ref
    ready = []
    ctl.with_reference(str(refs[2]), ready.append)  # a third reference pushes the first one out
    qtbot.waitUntil(lambda: bool(ready), timeout=20000)
    assert not win.client.engine.has_reference(first)
    stroke_image(win.canvas, [(10.5, 40.5), (50.5, 44.5)])  # renders a state that needs the first again
    wait_idle(qtbot, win)
    assert ctl.result_is_current and ctl.last_error is None
    assert all(win.client.engine.has_reference(r) for r in ctl.doc.state.refs())
    win.close()
