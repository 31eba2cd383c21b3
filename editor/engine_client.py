"""The one worker thread that owns the FaceEngine; the UI thread never waits on a model.

* Render requests go into a single pending slot: a new request replaces one the worker has not
  started (latest wins). Results come back tagged with the request id and the caller's token.
* Every other job (open a photo, add a reference, export, save a session) goes through the same
  worker, in submission order, before the pending render.
* Results and errors reach the UI thread through a queued signal; the UI drops stale ones.
* ``synchronous=True`` runs everything at once in the caller's thread (tests, benchmarks).
* Faults: every exception becomes a message and the worker keeps serving. When the GPU runs out of
  memory the engine is rebuilt on the CPU (``factory(device="cpu")``), the failed request is run again
  there, and ``deviceFallback`` tells the UI. Prepared photos and references made on the old device are
  prepared again on the new one when next used (``ref_paths`` says where each reference came from).
"""

from __future__ import annotations

import gc
import inspect
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

from editor.engine_messages import Job, JobResult, Render, RenderError, RenderResult
from editor.faults import TRIM_EVERY_S, describe_error, is_gpu_oom, release_free_memory
from editor.qtcompat import guard_singleton_refcounts
from engine.labels import RSM_GROUPS
from engine.session import EngineError, Superseded

guard_singleton_refcounts()


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
                if isinstance(item, Render):
                    c._slot = None
            c._relay.emit(("busy", True))
            c._relay.emit(c._execute(item))
            with c._cv:
                idle = not (c._jobs or c._slot)
            if idle:
                c._relay.emit(("busy", False))
                c._trim_when_idle()


class EngineClient(QObject):
    """Owns the worker. ``factory()`` builds the FaceEngine inside the worker thread."""

    engineReady = Signal(str)  # device label
    engineFailed = Signal(str)  # readable message
    renderReady = Signal(object)  # RenderResult
    renderFailed = Signal(object)  # RenderError
    jobFinished = Signal(object)  # JobResult
    jobFailed = Signal(object)  # JobResult with .error
    busyChanged = Signal(bool)
    deviceFallback = Signal(str, str)  # new device label, message for the user
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
        #: regions one random draw styles together (the engine's RSM groups, known once it is ready)
        self.rsm_groups: dict[str, tuple[int, ...]] = dict(RSM_GROUPS)
        self._cv = threading.Condition()
        self._jobs: deque[Job] = deque()
        self._slot: Render | None = None
        self.superseded = 0  # previews given up for a final render (worker side counts, UI reads)
        self._stop = False
        self._next_id = 0
        self.latest_render_id = 0
        self._outstanding: set[int] = set()
        self._callbacks: dict[int, tuple[Callable | None, Callable | None]] = {}
        self._worker: _Worker | None = None
        self.busy = False
        self.ref_paths: dict[str, str] = {}  # reference id -> file, to prepare it again on a new engine
        self._migrated: dict = {}
        self._last_trim = 0.0  # (id(old prepared)) -> (old, new) prepared on the current engine
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

    def request_render(self, prepared, state, token: Any = None, view_scale: float | None = None,
                       visible: tuple | None = None, final: bool = True) -> int:  # fmt: skip
        """Queue a render (its photo-space view at ``view_scale``, the part ``visible`` on screen
        first); replaces a pending one that has not started. A preview (``final`` False) under way is
        given up between its stages once a final render waits behind it, so a stroke's release does
        not wait for the last preview to finish. Returns the request id."""
        item = Render(self._new_id(), token, prepared, state, view_scale, visible, final)
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

    def promote(self, rid: int) -> None:
        """The pending preview ``rid`` (if it has not started) becomes a final render: the preview under
        way gives up for it."""
        with self._cv:
            if self._slot is not None and self._slot.id == rid:
                self._slot.final = True

    def submit(
        self,
        kind: str,
        fn: Callable[..., Any],
        *args,
        on_done: Callable[[Any], None] | None = None,
        on_error: Callable[[str], None] | None = None,
    ) -> int:
        """Run ``fn(engine, *args)`` in the worker, in order. Callbacks run in the UI thread."""
        job = Job(self._new_id(), kind, fn, args)
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
    def _trim_when_idle(self) -> None:
        """Give freed memory back to the OS now and then (glibc keeps what a render freed, so a long
        session's RSS would creep up without it). Runs in the worker, at most every TRIM_EVERY_S."""
        now = time.monotonic()
        if now - self._last_trim >= TRIM_EVERY_S:
            self._last_trim = now
            release_free_memory()

    def _build(self, device: str | None = None):
        if device is None:
            return self.factory()
        try:
            params = inspect.signature(self.factory).parameters
        except (TypeError, ValueError):
            params = {}
        if "device" not in params and not any(p.kind == p.VAR_KEYWORD for p in params.values()):
            raise EngineError(f"the engine cannot be rebuilt on the {device.upper()}")
        return self.factory(device=device)

    def _post(self, msg) -> None:
        if self.synchronous:
            self._dispatch(msg)
        else:
            self._relay.emit(msg)

    def _fall_back_to_cpu(self) -> bool:
        """After a GPU out-of-memory error: drop the engine, build it on the CPU. True when it worked."""
        dev = getattr(getattr(self.engine, "device", None), "type", "cpu")
        if dev == "cpu":
            return False
        self.engine = None
        self._migrated.clear()
        gc.collect()
        try:
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except Exception:  # noqa: BLE001 - best effort
            pass
        try:
            self.engine = self._build("cpu")
        except BaseException as e:  # noqa: BLE001
            self.engine_error = describe_error(e)
            self._post(
                ("fallback", "", f"The GPU ran out of memory and the CPU engine failed: {self.engine_error}")
            )
            return False
        label = str(getattr(self.engine, "device_label", "CPU"))
        self._post(
            (
                "fallback",
                label,
                "The GPU ran out of memory, so FacePaint moved the model to the CPU. "
                "Editing goes on there (slower); restart FacePaint to use the GPU again.",
            )
        )
        return True

    def _adopt(self, value):
        """A PreparedImage made by an earlier engine (another device) -> the same photo on this one."""
        styles = getattr(value, "styles", None)
        dev = getattr(self.engine, "device", None)
        if (
            styles is None
            or dev is None
            or not hasattr(value, "parsed_mask")
            or styles.device.type == dev.type
        ):
            return value
        hit = self._migrated.get(id(value))
        if hit is not None and hit[0] is value:
            return hit[1]
        new = self.engine.prepare(
            value.photo, alignment=value.alignment, parsed_mask=value.parsed_mask, align=value.aligned,
            parsed_work=value.work_mask, work_scale=value.work_scale,
        )
        if len(self._migrated) >= 8:
            self._migrated.clear()
        self._migrated[id(value)] = (value, new)
        return new

    def _ensure_refs(self, state) -> None:
        """References the state uses that this engine has not prepared (evicted, or engine rebuilt)."""
        refs = getattr(state, "refs", None)
        if refs is None or not hasattr(self.engine, "has_reference"):
            return
        needed = refs()
        missing = [r for r in needed if not self.engine.has_reference(r) and r in self.ref_paths]
        if not missing:
            return
        for rid in needed - set(missing):  # mark the ones still there as recently used first
            if self.engine.has_reference(rid):
                self.engine.add_reference(self.engine.reference(rid))
        for rid in missing:
            got = self.engine.add_reference(self.ref_paths[rid])
            if got != rid:
                raise EngineError(f"reference {self.ref_paths[rid]} changed on disk since it was added")

    def _run_item(self, item):
        if self.engine is None:
            raise EngineError(f"The engine is not available: {self.engine_error or 'it has not started'}")
        if isinstance(item, Render):
            self._ensure_refs(item.state)
            render_view = getattr(self.engine, "render_view", None)
            if render_view is None:  # an engine without a photo-space view
                return self.engine.render(self._adopt(item.prepared), item.state)
            if item.view_scale is None and item.visible is None and item.final:
                return render_view(self._adopt(item.prepared), item.state)
            if item.final or self.synchronous or "stop" not in inspect.signature(render_view).parameters:
                return render_view(self._adopt(item.prepared), item.state, item.view_scale, item.visible)
            return render_view(self._adopt(item.prepared), item.state, item.view_scale, item.visible,
                               stop=self._final_waiting)  # fmt: skip
        args = tuple(self._adopt(a) for a in item.args)
        for a in args:
            self._ensure_refs(a)
        return item.fn(self.engine, *args)

    def _final_waiting(self) -> bool:
        """Worker side: a final render is waiting in the slot (the preview under way may give up)."""
        slot = self._slot
        return slot is not None and slot.final

    def _execute(self, item):
        t0 = time.perf_counter()
        if isinstance(item, Job) and item.kind == "start":
            try:
                self.engine = self._build()
                label = str(getattr(self.engine, "device_label", ""))
                groups = getattr(self.engine, "rsm_groups", None)
                info = (label, dict(groups()) if callable(groups) else None)
                return ("ready", item.id, info, time.perf_counter() - t0)
            except BaseException as e:  # noqa: BLE001 - every failure becomes a message
                self.engine_error = describe_error(e)
                return ("failed", item.id, self.engine_error, time.perf_counter() - t0)
        tag = "render" if isinstance(item, Render) else "job"
        try:
            try:
                value = self._run_item(item)
            except BaseException as e:  # noqa: BLE001
                if not (is_gpu_oom(e) and self._fall_back_to_cpu()):
                    raise
                value = self._run_item(item)  # once more, on the CPU
            return (tag, item, value, time.perf_counter() - t0)
        except Superseded:
            return ("superseded", item, None, time.perf_counter() - t0)
        except BaseException as e:  # noqa: BLE001
            if isinstance(e, MemoryError):
                gc.collect()
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
        if tag == "fallback":
            if msg[1]:
                self.device_label = msg[1]
            self.deviceFallback.emit(msg[1], msg[2])
            return
        if tag in ("ready", "failed"):
            _, jid, text, _secs = msg
            self._outstanding.discard(jid)
            self._callbacks.pop(jid, None)
            if tag == "ready":
                self.device_label, groups = text
                if groups:
                    self.rsm_groups = groups
                self.engineReady.emit(self.device_label)
            else:
                self.engineFailed.emit(text)
            return
        _, item, value, secs = msg
        self._outstanding.discard(item.id)
        if tag == "superseded":
            self.superseded += 1
            return
        if isinstance(item, Render):
            if tag == "render":
                crop, view = (value.crop, value.view) if hasattr(value, "crop") else (value, None)
                self.renderReady.emit(RenderResult(item.id, item.token, crop, secs, view))
            else:
                self.renderFailed.emit(RenderError(item.id, item.token, value))
            return
        on_done, on_error = self._callbacks.pop(item.id, (None, None))
        if tag == "job":
            res = JobResult(item.id, item.kind, value, secs)
            try:
                if on_done is not None:
                    on_done(value)
            except Exception as e:  # noqa: BLE001 - a failing UI callback is reported, the editor goes on
                res = JobResult(item.id, item.kind, None, secs, error=describe_error(e))
                if on_error is not None:
                    on_error(res.error)
                self.jobFailed.emit(res)
                return
            self.jobFinished.emit(res)
        else:
            res = JobResult(item.id, item.kind, None, secs, error=value)
            if on_error is not None:
                on_error(value)
            self.jobFailed.emit(res)
