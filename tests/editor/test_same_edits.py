"""The same edits through the headless session (the CLI's edit script) and through the editor give the
same states, step by step, and the same states again on the way back through undo (engine.edits is the
one home of what an edit means)."""

from __future__ import annotations

import numpy as np

from engine import maskops
from engine.cli import apply_edit
from engine.labels import INDEX
from tests.editor.conftest import wait_idle


def _session(make_factory, photo):
    from engine.session import EditSession

    engine = make_factory()()
    return EditSession(engine, engine.prepare(str(photo)))


def test_cli_session_and_editor_reach_the_same_states(opened, qtbot, make_factory, photo, ref_photo, tmp_path):
    win = opened
    ctl = win.ctl
    session = _session(make_factory, photo)
    assert ctl.doc.state.same_as(session.state)
    ref = str(ref_photo)
    ref_present = session.engine.reference(session.add_reference(ref)).present
    blend_region = next(r for r in (INDEX["cloth"], INDEX["neck"], INDEX["hair"]) if ref_present[r])
    fill_at = tuple(int(v) for v in np.argwhere(session.state.mask == INDEX["hair"])[0][::-1])
    u_lip = INDEX["u_lip"]

    def fill(c):
        c.commit_mask(maskops.flood_fill(c.doc.state.mask, *fill_at, INDEX["hat"]), "Fill")

    steps = [
        (lambda c: c.transfer(ref, [INDEX["hair"], INDEX["hat"]]), {"op": "transfer", "ref": ref, "regions": ["hair", "hat"]}),
        (lambda c: c.set_color(u_lip, (160, 48, 74)), {"op": "color", "region": "u_lip", "color": "#a0304a"}),
        (lambda c: c.random_style(INDEX["skin"], 7), {"op": "random", "region": "skin", "seed": 7}),
        (lambda c: c.tune(INDEX["hair"], 3, 1.5), {"op": "tune", "region": "hair", "seed": 3, "eta": 1.5}),
        (lambda c: c.tune(INDEX["eye_g"], 3, 0.0), {"op": "tune", "region": "eye_g", "seed": 3, "eta": 0.0}),
        (lambda c: c.blend(blend_region, 0.4), {"op": "interp", "region": blend_region, "ref": ref, "t": 0.4}),
        (lambda c: c.reset_region(u_lip), {"op": "reset", "region": "u_lip"}),
        (lambda c: c.set_settings("Harmoniser", harmonizer="msca", alpha=0.5),
         {"op": "harmonize", "mode": "msca", "alpha": 0.5}),
        (fill, {"op": "fill", "x": fill_at[0], "y": fill_at[1], "label": INDEX["hat"]}),
        (lambda c: c.face_swap(ref), {"op": "swap", "ref": ref}),
    ]
    seen = [session.state]
    for in_editor, script in steps:
        before = ctl.undo_stack.count()
        in_editor(ctl)
        apply_edit(session, script, tmp_path)
        qtbot.waitUntil(lambda b=before: ctl.undo_stack.count() >= b, timeout=20000)
        if script["op"] in ("transfer", "swap", "interp"):  # the editor prepares the reference first
            qtbot.waitUntil(lambda s=session: ctl.doc.state.same_as(s.state), timeout=20000)
        assert ctl.doc.state.same_as(session.state), script
        seen.append(session.state)
    assert not session.state.override(INDEX["eye_g"])  # a step of 0 left no override in either
    assert ctl.undo_stack.count() == session.history.index == len(steps) - 1
    wait_idle(qtbot, win)
    distinct = [st for i, st in enumerate(seen) if i == 0 or not st.same_as(seen[i - 1])]
    assert len(distinct) == len(steps)  # every step but the empty one changed the state
    for expected in reversed(distinct[:-1]):
        assert session.undo()
        ctl.undo_stack.undo()
        assert session.state.same_as(expected) and ctl.doc.state.same_as(expected)
    assert not session.undo() and not ctl.undo_stack.canUndo()
