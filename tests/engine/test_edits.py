"""engine.edits on plain states: the rules written there, without a network."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from engine import edits
from engine.errors import EngineError
from engine.labels import INDEX, NUM_CLASSES
from engine.state import EditState, Override, StateError

HAIR, SKIN = INDEX["hair"], INDEX["skin"]


def _state():
    m = np.zeros((16, 16), np.uint8)
    m[:8] = HAIR
    m[8:, :8] = SKIN
    m[8:, 8:] = INDEX["nose"]
    return EditState(mask=m)


def _ref(*absent):
    present = np.ones(NUM_CLASSES, bool)
    present[list(absent)] = False
    return SimpleNamespace(id="ref-1", present=present)


def test_a_blend_towards_the_same_reference_keeps_the_fine_tune():
    st = edits.interpolate(_state(), "hair", _ref(), 0.3)
    st = edits.tune(st, "hair", 5, 1.5)
    st = edits.interpolate(st, "hair", _ref(), 0.7)
    ov = st.override(HAIR)
    assert (ov.kind, ov.t, ov.tune_seed, ov.tune_eta) == ("interp", 0.7, 5, 1.5)
    other = SimpleNamespace(id="ref-2", present=np.ones(NUM_CLASSES, bool))
    assert not edits.interpolate(st, "hair", other, 0.5).override(HAIR).tuned  # a new blend starts afresh


@pytest.mark.parametrize("seed, eta", [("abc", 1.0), ([1], 1.0), (True, 1.0), (3.9, 1.0), (1, "x"), (1, None)])
def test_bad_tune_values_are_state_errors(seed, eta):
    with pytest.raises(StateError):
        edits.tune(_state(), "skin", seed, eta)


def test_zero_tune_leaves_no_override_but_keeps_other_overrides():
    assert edits.tune(_state(), "skin", 3, 0.0).override(SKIN) is None
    st = edits.color(_state(), "skin", "#102030")
    ov = edits.tune(st, "skin", 3, 0).override(SKIN)
    assert ov.kind == "color" and not ov.tuned


def test_transfer_takes_what_the_reference_has_and_reports_the_rest():
    e = edits.transfer(_state(), _ref(INDEX["hat"]), ["hair", "hat"])
    assert e.regions == (HAIR,) and e.skipped == (INDEX["hat"],)
    assert e.state.override(HAIR) == Override("reference", ref="ref-1")
    with pytest.raises(EngineError, match="no hat"):
        edits.transfer(_state(), _ref(INDEX["hat"]), "hat")


def test_random_draws_the_present_group():
    groups = {"skin": (SKIN, INDEX["nose"], INDEX["neck"]), "hair": (HAIR,)}
    e = edits.random_style(_state(), "skin", 9, groups)
    assert e.regions == (SKIN, INDEX["nose"])  # neck is not in the mask
    assert all(e.state.override(r) == Override("random", seed=9) for r in e.regions)
