"""The worker: latest-wins render slot, ordered jobs, errors as messages, synchronous mode.

A small controllable engine stands in here so that the queue's behaviour can be pinned exactly
(which requests ran, in what order); the GUI tests use the real FaceEngine.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

from editor.engine_client import EngineClient
from engine.session import EngineError


class GateEngine:
    """Renders a constant image per state; ``gate`` blocks the worker inside a job."""

    device_label = "test device"

    def __init__(self):
        self.rendered: list[int] = []
        self.gate = threading.Event()

    def render(self, prepared, state):
        if state == "boom":
            raise EngineError("the model could not render this")
        self.rendered.append(state)
        return np.full((4, 4, 3), state, np.uint8)


@pytest.fixture
def client(qtbot):
    eng = GateEngine()
    c = EngineClient(lambda: eng)
    c.start()
    qtbot.waitUntil(lambda: c.engine is not None)
    yield c, eng
    eng.gate.set()
    c.shutdown()


def test_latest_render_wins_and_results_are_tagged(client, qtbot):
    c, eng = client
    got = []
    c.renderReady.connect(got.append)
    c.submit("block", lambda e: e.gate.wait(10))  # the worker is busy: requests pile up in the slot
    ids = [c.request_render(None, s, token="doc") for s in (1, 2, 3)]
    eng.gate.set()
    qtbot.waitUntil(lambda: c.idle)
    assert eng.rendered == [3], "only the latest unstarted request may run"
    assert [r.id for r in got] == [ids[-1]] and got[0].token == "doc"
    assert int(got[0].image[0, 0, 0]) == 3 and got[0].seconds >= 0


def test_jobs_run_in_order_before_the_pending_render(client, qtbot):
    c, eng = client
    order = []
    c.submit("block", lambda e: e.gate.wait(10))
    c.request_render(None, 5)
    for i in range(3):
        c.submit(
            "job", lambda e, i=i: order.append(("job", i)) or i, on_done=lambda v: order.append(("done", v))
        )
    c.renderReady.connect(lambda r: order.append(("render", int(r.image[0, 0, 0]))))
    eng.gate.set()
    qtbot.waitUntil(lambda: c.idle)
    jobs = [o for o in order if o[0] == "job"]
    assert jobs == [("job", 0), ("job", 1), ("job", 2)]
    assert order[-1] == ("render", 5)


def test_errors_become_messages_and_the_worker_keeps_going(client, qtbot):
    c, eng = client
    errors, jobs_failed = [], []
    c.renderFailed.connect(errors.append)
    c.jobFailed.connect(jobs_failed.append)
    c.request_render(None, "boom")
    c.submit("crash", lambda e: 1 / 0, on_error=jobs_failed.append)
    qtbot.waitUntil(lambda: c.idle)
    assert errors and "could not render" in errors[0].message
    assert "ZeroDivisionError" in jobs_failed[0]
    ok = []
    c.renderReady.connect(ok.append)
    c.request_render(None, 9)
    qtbot.waitUntil(lambda: bool(ok))
    assert int(ok[0].image[0, 0, 0]) == 9


def test_failed_engine_start_reports_and_later_jobs_fail_cleanly(qtbot):
    def broken():
        raise EngineError("bundle folder /nowhere does not exist")

    c = EngineClient(broken)
    failed, job_errors = [], []
    c.engineFailed.connect(failed.append)
    c.start()
    c.submit("open", lambda e: None, on_error=job_errors.append)
    qtbot.waitUntil(lambda: c.idle)
    c.shutdown()
    assert failed == ["bundle folder /nowhere does not exist"]
    assert "not available" in job_errors[0] and "/nowhere" in job_errors[0]


def test_synchronous_mode_answers_before_returning():
    eng = GateEngine()
    c = EngineClient(lambda: eng, synchronous=True)
    c.start()
    got = []
    c.renderReady.connect(got.append)
    rid = c.request_render(None, 4)
    assert got and got[0].id == rid and c.idle and not c.busy


class StagedEngine:
    """A photo-space engine whose render takes stages; between them it asks ``stop()`` as the real one."""

    device_label = "test device"

    def __init__(self):
        self.started = threading.Event()
        self.finished: list[int] = []
        self.given_up: list[int] = []

    def render_view(self, prepared, state, scale=None, visible=None, stop=None):
        from engine.session import Superseded

        self.started.set()
        for _ in range(200):  # up to 2 s of stages
            threading.Event().wait(0.01)
            if stop is not None and stop():
                self.given_up.append(state)
                raise Superseded("newer")
            if state != "slow":
                break
        self.finished.append(state)
        return np.full((4, 4, 3), 7, np.uint8)


def test_a_preview_under_way_gives_up_for_a_final_render_but_not_for_another_preview(qtbot):
    eng = StagedEngine()
    c = EngineClient(lambda: eng)
    c.start()
    qtbot.waitUntil(lambda: c.engine is not None)
    got = []
    c.renderReady.connect(got.append)
    try:
        c.request_render(None, "slow", final=False)
        assert eng.started.wait(5)
        c.request_render(None, "next preview", final=False)  # a preview waits: the slow one goes on
        threading.Event().wait(0.1)
        assert eng.given_up == []
        final = c.request_render(None, "final")
        qtbot.waitUntil(lambda: c.idle, timeout=5000)
        assert eng.given_up == ["slow"] and eng.finished == ["final"] and c.superseded == 1
        assert [r.id for r in got] == [final], "the given-up preview reports nothing"
        # a pending preview promoted to final (a stroke's release on its last preview's mask)
        eng.started.clear()
        c.request_render(None, "slow", final=False)
        assert eng.started.wait(5)
        rid = c.request_render(None, "last preview", final=False)
        c.promote(rid)
        qtbot.waitUntil(lambda: c.idle, timeout=5000)
        assert eng.given_up == ["slow", "slow"] and eng.finished[-1] == "last preview"
    finally:
        c.shutdown()
