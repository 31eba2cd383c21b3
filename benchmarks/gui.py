"""``facepaint bench --gui``: how the editor's UI thread copes while the model works, measured offscreen
on the real window, worker and engine.

``gui_bench()`` brushes strokes onto the canvas through mouse events and, while each stroke's
regenerate runs in the worker, repaints the canvas from the UI thread at display rate. The report:

* ``paint_event_ms_median`` / ``paint_event_ms_max``: UI-thread milliseconds per canvas paint event
  during a regenerate (this is what decides whether the editor stutters);
* ``stroke_to_result_ms`` (and ``_max``): from releasing a stroke to its result being on screen (the
  photo-space composite box pasted and the canvas repainted);
* ``paint_event_ms_100pct_median`` and ``stroke_to_result_ms_100pct``: the same at 100 % zoom (photo
  pixels 1:1), where the result layer is finer;
* ``view``: the photo, the result layer's scale (view px per photo px: it follows the zoom, the next
  power of two at or above it, up to ``finest_view_scale``) and size, and the bytes of composite cache
  held (the engine's view compositor plus the canvas's layers);
* also the handling time per mouse move, the model's own render time, the device and resolution.

It takes keyword arguments or a launcher-style argument list
(``--bundle DIR --photo FILE --device cpu|cuda --strokes N``). Without ``--photo`` it edits the bundled
astronaut photo enlarged to 12 MP (`benchmarks.harness.photo_sized_sample`). The soak is in
``benchmarks.soak``.
"""

from __future__ import annotations

import statistics
import time

from benchmarks.harness import harness, options

FRAME_S = 1 / 60  # repaint like a 60 Hz display while a regenerate runs


def gui_bench(argv=None, photo=None, **kw) -> dict:
    """Measure UI-thread paint time during regenerates and the stroke-to-result latency."""
    o = options(argv, **({"photo": photo} if photo is not None else {}), **kw)
    o.setdefault("photo_sized", True)
    strokes = int(o.get("strokes", 6))
    with harness(o) as h:
        ctl, canvas, client = h.ctl, h.canvas, h.client
        shown_at: list[float] = []
        ctl.resultChanged.connect(
            lambda: shown_at.append(time.perf_counter()) if ctl.result_is_current else None
        )
        busy_paints: list[float] = []
        move_ms: list[float] = []
        latency: list[float] = []
        render_ms: list[float] = []
        def strokes_run(n: int, first: int) -> None:
            for i in range(first, first + n):
                h.stroke(i, move_ms)
                shown_at.clear()
                released = time.perf_counter()  # the release above queued the stroke's final render
                end = released + h.timeout_s
                last_paint = 0.0
                while not shown_at:
                    now = time.perf_counter()
                    if now > end:
                        raise TimeoutError("GUI benchmark: a stroke's result never arrived")
                    if client.busy and now - last_paint >= FRAME_S:
                        last_paint = now
                        canvas.paint_times.clear()
                        canvas.repaint()  # a synchronous paint event on the UI thread, at most 60 per second
                        busy_paints.extend(canvas.paint_times)
                    h.app.processEvents()
                    time.sleep(0.001)
                canvas.repaint()  # the result on screen
                latency.append((time.perf_counter() - released) * 1000.0)
                if ctl.last_render_ms is not None:
                    render_ms.append(ctl.last_render_ms)

        strokes_run(strokes, 0)
        fit_scale, fit_layer = canvas.rframe.scale, canvas.rframe.box_size
        fit_latency = list(latency)
        if not busy_paints:  # the model finished before a paint could overlap it: plain paints
            busy_paints = _paints(canvas, 10)
        canvas.actual_size()
        h.settle()  # the finer result layer this zoom asks for
        full_zoom = _paints(canvas, 20)
        latency.clear()
        strokes_run(max(2, strokes // 2), strokes)
        full_latency = list(latency)
        full_scale = canvas.rframe.scale
        canvas.fit()
        frame, prep = canvas.frame, ctl.doc.prepared
        compositor = prep.cache.view
        held = canvas.composite_bytes + (compositor.cache_bytes if compositor is not None else 0)
        ph, pw = prep.photo.rgb.shape[:2]
        return {
            "paint_event_ms_median": round(statistics.median(busy_paints), 3),
            "paint_event_ms_max": round(max(busy_paints), 3),
            "stroke_to_result_ms": round(statistics.median(fit_latency), 1),
            "stroke_to_result_ms_max": round(max(fit_latency), 1),
            "stroke_to_result_ms_100pct": round(statistics.median(full_latency), 1),
            "paint_events_measured": len(busy_paints),
            "paint_event_ms_100pct_median": round(statistics.median(full_zoom), 3),
            "view": {
                "photo": f"{pw}x{ph}",
                "photo_source": str(h.photo),
                "result_scale_at_fit": round(fit_scale, 4),
                "result_layer_at_fit": "{}x{}".format(*fit_layer),
                "result_scale_at_100pct": round(full_scale, 4),
                "finest_view_scale": round(frame.scale, 4),
                "photo_px_per_mask_px": round(frame.crop_px, 2),
                "mask_side": h.R,
                "composite_cache_bytes": int(held),
                "view_updates": canvas.view_updates,
            },
            "mouse_move_ms_median": round(statistics.median(move_ms), 3),
            "mouse_move_ms_max": round(max(move_ms), 3),
            "previews_given_up": client.superseded,
            "render_ms_median": round(statistics.median(render_ms), 1) if render_ms else None,
            "strokes": strokes,
            "resolution": h.R,
            "device": client.device_label,
            "window": "{}x{} offscreen".format(*o.get("size", (1400, 900))),
        }


def _paints(canvas, n: int) -> list[float]:
    out: list[float] = []
    for _ in range(n):
        canvas.paint_times.clear()
        canvas.repaint()
        out.extend(canvas.paint_times)
    return out


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(gui_bench(sys.argv[1:]), indent=2))
