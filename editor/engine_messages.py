"""What passes between the UI thread and the engine worker (:mod:`editor.engine_client`): the requests
queued for the worker (a render in the latest-wins slot, a job in the queue) and the results and errors
sent back, each tagged with its request id."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["JobResult", "RenderError", "RenderResult", "Render", "Job"]


@dataclass
class RenderResult:
    id: int
    token: Any
    image: Any  # np.ndarray uint8 [R,R,3]
    seconds: float
    view: Any = None  # engine.session.ViewUpdate: the photo-space view's changed box, or None


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
class Render:
    id: int
    token: Any
    prepared: Any
    state: Any
    view_scale: float | None = None
    visible: tuple | None = None  # the photo box on screen (x0, y0, x1, y1)
    final: bool = True  # False: a preview (a stroke under way), given up once a final render waits


@dataclass
class Job:
    id: int
    kind: str
    fn: Callable
    args: tuple
