"""``facepaint bench --soak``: a long, busy session through the real editor, offscreen.

The default mix is 5,000 strokes, 200 reference transfers, 200 slider drags and 500 undo/redo steps,
shuffled and fired back to back without waiting for results (the worker keeps only the latest request),
with autosave on. After a warm-up that touches every feature once, the report gives the process memory
at start and end (``rss_start_mb``, ``rss_end_mb``), the longest single UI-thread call
(``max_stall_ms``), every error the editor showed (``errors``), and whether the final result matches
the final state and undoing / redoing everything lands exactly on the base / final state.
Options as for ``benchmarks.gui``, plus ``--edits N`` (spread in the default proportions) or
``--transfers N --sliders N --undos N``, and ``--seed N``.
"""

from __future__ import annotations

import gc
import random
import statistics
import sys
import time
from array import array
from pathlib import Path

from benchmarks.harness import harness, options, rss_mb, synthetic_photo

DEFAULT_MIX = {"strokes": 5000, "transfers": 200, "sliders": 200, "undos": 500}
STALL_GOAL_MS = 100.0


def _counts(o: dict) -> dict:
    """The number of each action: explicit counts, or ``edits`` spread in the default proportions."""
    if "edits" in o and not any(k in o for k in DEFAULT_MIX):
        total = int(o["edits"])
        weight = sum(DEFAULT_MIX.values())
        c = {k: total * v // weight for k, v in DEFAULT_MIX.items()}
        c["strokes"] += total - sum(c.values())
        return c
    return {k: int(o.get(k, v)) for k, v in DEFAULT_MIX.items()}


def _plan(c: dict, seed: int) -> list[str]:
    """The shuffled action list; undo and redo come in groups that end where they began (bar a last
    lone undo when the count is odd)."""
    units: list[list[str]] = [["stroke"]] * c["strokes"] + [["transfer"]] * c["transfers"]
    units += [["slider"]] * c["sliders"]
    n = c["undos"]
    units += (
        [["undo", "undo", "redo", "redo"]] * (n // 4)
        + [["undo", "redo"]] * (n % 4 // 2)
        + [["undo"]] * (n % 2)
    )
    random.Random(seed).shuffle(units)
    return [a for u in units for a in u]


def _settled_rss() -> float:
    """RSS after a garbage collection and handing freed heap back to the OS (what the editor's worker
    does by itself whenever it goes idle)."""
    from editor.faults import release_free_memory

    gc.collect()
    release_free_memory()
    return rss_mb()


class _GcTimes(list):
    """Milliseconds of each garbage-collector pass, collected through ``gc.callbacks``."""

    def callback(self, phase, info) -> None:
        if phase == "start":
            self.t0 = time.perf_counter()
        elif hasattr(self, "t0"):
            self.append((time.perf_counter() - self.t0) * 1000.0)
            if len(self) > 10_000:
                del self[:5000]


def _watch_gc() -> _GcTimes:
    g = _GcTimes()
    gc.callbacks.append(g.callback)
    return g


class _Soak:
    """The actions of the soak (stroke, transfer, slider drag), each UI-thread call timed."""

    def __init__(self, h, seed: int):
        self.h, self.ctl, self.win = h, h.ctl, h.win
        self.rng = random.Random(seed)
        self.stalls = array("d")  # every UI-thread call's milliseconds (compact: 8 bytes each)
        self.worst: list[tuple[float, str, int]] = []
        self.errors: list[str] = []
        self.ctl.errorRaised.connect(self.errors.append)
        folder = Path(h.tmp.name)
        self.refs = [str(synthetic_photo(folder / f"ref{i}.png", 320 + 32 * i)) for i in range(3)]

    def timed(self, fn, *args) -> None:
        t0 = time.perf_counter()
        fn(*args)
        ms = (time.perf_counter() - t0) * 1000.0
        self.stalls.append(ms)
        if ms > 40.0:  # what the longest stalls were, for the report
            what = getattr(fn, "__name__", "call") + (
                f" {args[0]}" if args and isinstance(args[0], str) else ""
            )
            self.worst.append((round(ms, 1), what, len(self.stalls)))
            self.worst = sorted(self.worst, reverse=True)[:8]

    def tick(self) -> None:
        self.timed(self.h.app.processEvents)

    def stroke(self, i: int) -> None:
        R, rng = self.h.R, self.rng
        self.ctl.select_region((13, 1, 18, 17, 2, 10)[i % 6])
        x, y = rng.uniform(0.1, 0.9) * R, rng.uniform(0.1, 0.9) * R
        self.timed(self.h.mouse, "press", x, y)
        for _ in range(8):
            x = min(max(x + rng.uniform(-0.06, 0.06) * R, 0), R - 1)
            y = min(max(y + rng.uniform(-0.06, 0.06) * R, 0), R - 1)
            self.timed(self.h.mouse, "move", x, y)
            self.tick()
        self.timed(self.h.mouse, "release", x, y)

    def transfer(self, i: int) -> None:
        path = self.refs[i % len(self.refs)]
        prefer = (13, 1, 18, 17, 4, 5, 11, 12)

        def go(info):
            present = [r for r in prefer[i % 4 :] + prefer if info.present[r]]
            present = present or [r for r in range(1, len(info.present)) if info.present[r]] or [0]
            self.ctl.transfer(path, [present[0]])

        self.timed(self.ctl.with_reference, path, go)

    def slider(self, i: int) -> None:
        panel = self.win.style_panel
        sliders = [s for s in (panel.alpha, panel.tune, panel.interp) if s.isEnabled()]
        s = sliders[i % len(sliders)]
        s.setSliderDown(True)
        for _ in range(3):
            self.timed(s.setValue, self.rng.randint(s.minimum(), s.maximum()))
            self.tick()
        self.timed(s.setSliderDown, False)

    def warm_up(self) -> int:
        """Use every feature once before the measurement starts (first-use allocations: the references,
        the flow and harmoniser networks, kernel caches); returns the number of actions."""
        n = 0
        for i in range(len(self.refs)):
            self.transfer(i)
            self.settle()
            n += 1
        for i in range(3):
            self.slider(i)
            self.stroke(i)
            self.settle()
            n += 2
        for act in (self.win.undo, self.win.redo):
            act()
            n += 1
        self.settle()
        return n

    def settle(self) -> None:
        end = time.perf_counter() + self.h.timeout_s
        while not (self.h.client.idle and self.ctl.result_is_current):
            if time.perf_counter() > end:
                raise TimeoutError("soak benchmark: timed out waiting for the result")
            self.tick()
            time.sleep(0.001)


def soak_bench(argv=None, photo=None, **kw) -> dict:
    """Run the soak; returns the report (see the module docstring)."""
    import numpy as np

    from engine.history import base_of

    o = options(argv, **({"photo": photo} if photo is not None else {}), **kw)
    counts = _counts(o)
    plan = _plan(counts, int(o.get("seed", 0)))
    verbose = len(plan) > 1000
    with harness(o) as h:
        s = _Soak(h, int(o.get("seed", 0)))
        ctl, win, stack = h.ctl, h.win, h.ctl.undo_stack
        renders = [0]
        ctl.resultChanged.connect(lambda: renders.__setitem__(0, renders[0] + 1))
        rss_open = _settled_rss()
        warmup = s.warm_up()
        gc_ms = _watch_gc()
        rss0, t0 = _settled_rss(), time.perf_counter()
        for n, action in enumerate(plan):
            if action == "stroke":
                s.stroke(n)
            elif action == "transfer":
                s.transfer(n)
            elif action == "slider":
                s.slider(n)
            else:
                s.timed(win.undo if action == "undo" else win.redo)
            s.tick()
            if n % 200 == 199:
                s.settle()
                if verbose:
                    print(
                        f"soak: {n + 1}/{len(plan)} actions, RSS {rss_mb():.0f} MB, "
                        f"max stall {max(s.stalls):.0f} ms, {len(s.errors)} errors",
                        file=sys.stderr,
                        flush=True,
                    )
        s.settle()
        seconds = time.perf_counter() - t0
        check: list = []
        h.client.submit(
            "check",
            lambda e, p, st: e.render(p, st),
            ctl.doc.prepared,
            ctl.doc.state,
            on_done=check.append,
            on_error=lambda m: check.append(f"check render failed: {m}"),
        )
        h.wait(lambda: bool(check), "the check render")
        if isinstance(check[0], str):
            s.errors.append(check[0])
        final_ok = not isinstance(check[0], str) and bool(np.array_equal(ctl.result, check[0]))
        final, steps, index = ctl.doc.state, stack.count(), stack.index()
        base = base_of(final, stack.ops, index)
        base_is_parsed = bool(np.array_equal(base.mask, ctl.doc.parsed_mask)) and not base.overrides
        while stack.canUndo():
            win.undo()
        s.settle()
        undo_all_ok = ctl.doc.state.same_as(base)
        parsed_ok = (
            bool(np.array_equal(ctl.doc.state.mask, ctl.doc.parsed_mask)) and not ctl.doc.state.overrides
        )
        while stack.index() < index:
            win.redo()
        redo_ok = ctl.doc.state.same_as(final)
        s.settle()
        history_kb = stack.nbytes / 1024
        appends = list(win.autosave.append_ms) if win.autosave else []
        snaps = list(win.autosave.snapshot_ms) if win.autosave else []
        rss1 = _settled_rss()
        gc.callbacks.remove(gc_ms.callback)
        return {
            **counts,
            "edits": len(plan),
            "seconds": round(seconds, 1),
            "rss_after_open_mb": round(rss_open, 1),
            "warmup_actions": warmup,
            "rss_start_mb": round(rss0, 1),
            "rss_end_mb": round(rss1, 1),
            "rss_growth_mb": round(rss1 - rss0, 1),
            "max_stall_ms": round(max(s.stalls), 1),
            "stalls_over_100ms": sum(x > STALL_GOAL_MS for x in s.stalls),
            "ui_ms_median": round(statistics.median(s.stalls), 3),
            "gc_pause_ms_max": round(max(gc_ms, default=0.0), 1),
            "worst_stalls": [f"{ms} ms in {what} (UI call {k})" for ms, what, k in s.worst[:5]],
            "errors": s.errors[:20],
            "error_count": len(s.errors),
            "results_shown": renders[0],
            "undo_steps": steps,
            "history_kb": round(history_kb, 1),
            "final_result_matches_state": final_ok,
            "undo_all_restores_base": bool(undo_all_ok),
            "undo_all_restores_parsed": bool(parsed_ok) if base_is_parsed else None,
            "redo_all_restores_final": bool(redo_ok),
            "autosave_append_ms_median": round(statistics.median(appends), 3) if appends else None,
            "autosave_append_ms_max": round(max(appends), 2) if appends else None,
            "autosave_snapshots": len(snaps),
            "autosave_snapshot_ms_max": round(max(snaps), 1) if snaps else None,
            "resolution": h.R,
            "device": h.client.device_label,
        }


if __name__ == "__main__":
    import json

    print(json.dumps(soak_bench(sys.argv[1:]), indent=2))
