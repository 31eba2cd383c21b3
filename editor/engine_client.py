"""The one worker thread that owns the FaceEngine; the UI thread never waits on a model.

* Render requests go into a single pending slot: a new request replaces one the worker has not
  started (latest wins). Results come back tagged with the request id and the caller's token.
* Every other job (open a photo, add a reference, export, save a session) goes through the same
  worker, in submission order, before the pending render.
* Results and errors reach the UI thread through a queued signal; the UI drops stale ones.
* ``synchronous=True`` runs everything at once in the caller's thread (tests, benchmarks).
"""

from __future__ import annotations

import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

from editor.qtcompat import guard_singleton_refcounts
from engine.bundle import BundleError
from engine.imageio import ImageError
from engine.maskops import MaskOpError
from engine.session import EngineError, StateError

guard_singleton_refcounts()


@dataclass
class RenderResult:
    id: int
    token: Any
    image: Any  # np.ndarray uint8 [R,R,3]
    seconds: float


@dataclass
class RenderError:
    id: int
    token: Any
    message: str


@dataclass
class JobResult:
    id: int
    kind: str
    value: Any
    seconds: float
    error: str | None = None


@dataclass
class _Render:
    id: int
    token: Any
    prepared: Any
    state: Any


@dataclass
class _Job:
    id: int
    kind: str
    fn: Callable
    args: tuple


def describe_error(exc: BaseException) -> str:
    """A readable one-line message for anything the engine raised."""
    if isinstance(exc, (EngineError, StateError, BundleError, ImageError, MaskOpError)):
        return str(exc) or type(exc).__name__
    if isinstance(exc, MemoryError):
        return "Out of memory while running the model. Close other programs or use a smaller photo."
    if isinstance(exc, OSError):
        where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        return f"{exc.strerror or exc}{where}"
    traceback.print_exception(exc, file=sys.stderr)
    return f"Unexpected error ({type(exc).__name__}): {exc}"


class _Worker(QThread):
    def __init__(self, client: EngineClient):
        super().__init__()
        self.setObjectName("facepaint-engine")
        self.client = client

    def run(self) -> None:  # the worker thread's loop
        c = self.client
        while True:
            with c._cv:
                while not (c._stop or c._jobs or c._slot):
                    c._cv.wait()
                if c._stop:
                    return
                item = c._jobs.popleft() if c._jobs else c._slot
                if isinstance(item, _Render):
                    c._slot = None
            c._relay.emit(("busy", True))
            c._relay.emit(c._execute(item))
            with c._cv:
                idle = not (c._jobs or c._slot)
            if idle:
                c._relay.emit(("busy", False))


class EngineClient(QObject):
    """Owns the worker. ``factory()`` builds the FaceEngine inside the worker thread."""

    engineReady = Signal(str)  # device label
    engineFailed = Signal(str)  # readable message
    renderReady = Signal(object)  # RenderResult
    renderFailed = Signal(object)  # RenderError
    jobFinished = Signal(object)  # JobResult
    jobFailed = Signal(object)  # JobResult with .error
    busyChanged = Signal(bool)
    _relay = Signal(object)

    def __init__(
        self, factory: Callable[[], Any], *, synchronous: bool = False, parent: QObject | None = None
    ):
        super().__init__(parent)
        self.factory = factory
        self.synchronous = synchronous
        self.engine: Any = None
        self.engine_error: str | None = None
        self.device_label = ""
        self._cv = threading.Condition()
        self._jobs: deque[_Job] = deque()
        self._slot: _Render | None = None
        self._stop = False
        self._next_id = 0
        self.latest_render_id = 0
        self._outstanding: set[int] = set()
        self._callbacks: dict[int, tuple[Callable | None, Callable | None]] = {}
        self._worker: _Worker | None = None
        self.busy = False
        self._relay.connect(self._dispatch, Qt.ConnectionType.QueuedConnection)

    # --- lifecycle ------------------------------------------------------------------------------
    def start(self) -> None:
        """Build the engine (in the worker) and start serving requests."""
        self.submit("start", lambda engine: None)
        if not self.synchronous and self._worker is None:
            self._worker = _Worker(self)
            self._worker.start()

    def shutdown(self, timeout_s: float = 30.0) -> None:
        with self._cv:
            self._stop = True
            self._jobs.clear()
            self._slot = None
            self._cv.notify_all()
        if self._worker is not None:
            self._worker.wait(int(timeout_s * 1000))
            self._worker = None
        self._outstanding.clear()
        self._callbacks.clear()

    @property
    def idle(self) -> bool:
        """True when nothing is queued, pending or running (seen from the UI thread)."""
        return not self._outstanding

    # --- requests -------------------------------------------------------------------------------
    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def request_render(self, prepared, state, token: Any = None) -> int:
        """Queue a render; replaces a pending one that has not started. Returns the request id."""
        item = _Render(self._new_id(), token, prepared, state)
        self.latest_render_id = item.id
        self._outstanding.add(item.id)
        if self.synchronous:
            self._run_now(item)
            return item.id
        with self._cv:
            old, self._slot = self._slot, item
            self._cv.notify_all()
        if old is not None:
            self._outstanding.discard(old.id)
        return item.id

    def submit(
        self,
        kind: str,
        fn: Callable[..., Any],
        *args,
        on_done: Callable[[Any], None] | None = None,
        on_error: Callable[[str], None] | None = None,
    ) -> int:
        """Run ``fn(engine, *args)`` in the worker, in order. Callbacks run in the UI thread."""
        job = _Job(self._new_id(), kind, fn, args)
        self._outstanding.add(job.id)
        self._callbacks[job.id] = (on_done, on_error)
        if self.synchronous:
            self._run_now(job)
            return job.id
        with self._cv:
            self._jobs.append(job)
            self._cv.notify_all()
        return job.id

    def _run_now(self, item) -> None:
        self._dispatch(("busy", True))
        self._dispatch(self._execute(item))
        self._dispatch(("busy", False))

    # --- worker side ----------------------------------------------------------------------------
    def _execute(self, item):
        t0 = time.perf_counter()
        if isinstance(item, _Job) and item.kind == "start":
            try:
                self.engine = self.factory()
                label = str(getattr(self.engine, "device_label", ""))
                return ("ready", item.id, label, time.perf_counter() - t0)
            except BaseException as e:  # noqa: BLE001 - every failure becomes a message
                self.engine_error = describe_error(e)
                return ("failed", item.id, self.engine_error, time.perf_counter() - t0)
        try:
            if self.engine is None:
                raise EngineError(f"The engine is not available: {self.engine_error or 'it has not started'}")
            if isinstance(item, _Render):
                img = self.engine.render(item.prepared, item.state)
                return ("render", item, img, time.perf_counter() - t0)
            value = item.fn(self.engine, *item.args)
            return ("job", item, value, time.perf_counter() - t0)
        except BaseException as e:  # noqa: BLE001
            return ("error", item, describe_error(e), time.perf_counter() - t0)

    # --- UI side --------------------------------------------------------------------------------
    @Slot(object)
    def _dispatch(self, msg) -> None:
        tag = msg[0]
        if tag == "busy":
            if self.busy != msg[1]:
                self.busy = msg[1]
                self.busyChanged.emit(msg[1])
            return
        if self._stop:
            return
        if tag in ("ready", "failed"):
            _, jid, text, _secs = msg
            self._outstanding.discard(jid)
            self._callbacks.pop(jid, None)
            if tag == "ready":
                self.device_label = text
                self.engineReady.emit(text)
            else:
                self.engineFailed.emit(text)
            return
        _, item, value, secs = msg
        self._outstanding.discard(item.id)
        if isinstance(item, _Render):
            if tag == "render":
                self.renderReady.emit(RenderResult(item.id, item.token, value, secs))
            else:
                self.renderFailed.emit(RenderError(item.id, item.token, value))
            return
        on_done, on_error = self._callbacks.pop(item.id, (None, None))
        if tag == "job":
            res = JobResult(item.id, item.kind, value, secs)
            if on_done is not None:
                on_done(value)
            self.jobFinished.emit(res)
        else:
            res = JobResult(item.id, item.kind, None, secs, error=value)
            if on_error is not None:
                on_error(value)
            self.jobFailed.emit(res)
