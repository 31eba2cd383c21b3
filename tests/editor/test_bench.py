"""The GUI benchmarks run offscreen on the real window and report the documented keys."""

from __future__ import annotations

import math


def test_gui_bench_reports_paint_time_and_latency(qapp, tiny_bundle, photo):
    from benchmarks.gui import gui_bench

    r = gui_bench(tiny_bundle, photo, strokes=2, device="cpu", size=(900, 600))
    for key in ("paint_event_ms_median", "paint_event_ms_max", "stroke_to_result_ms"):
        assert math.isfinite(r[key]) and r[key] >= 0, key
    assert r["paint_event_ms_max"] >= r["paint_event_ms_median"] and r["paint_events_measured"] > 0
    assert r["resolution"] == 64 and "CPU" in r["device"]


def test_soak_bench_from_launcher_arguments(qapp, tiny_bundle, photo):
    from benchmarks.soak import soak_bench

    r = soak_bench(["--bundle", str(tiny_bundle), "--photo", str(photo), "--device", "cpu", "--edits", "30"])
    assert r["edits"] == 30 and r["errors"] == []
    assert r["final_result_matches_state"] and r["undo_all_restores_parsed"]
    assert r["undo_steps"] > 0 and r["results_shown"] > 0
