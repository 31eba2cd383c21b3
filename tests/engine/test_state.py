import numpy as np
import pytest

from engine.state import EditState, FreeRegion, Override, StateError, parse_color


def _state():
    m = np.zeros((32, 32), np.uint8)
    m[8:24, 8:24] = 1
    return EditState(mask=m)


def test_state_is_immutable_and_updates_are_pure():
    s = _state()
    with pytest.raises(ValueError):
        s.mask[0, 0] = 3
    t = s.with_override(13, Override("random", seed=4))
    assert s.overrides == () and t.override(13).seed == 4
    assert t.with_override(13, None).overrides == ()


def test_json_round_trip_is_exact():
    s = _state().with_override(1, Override("color", rgb="#102030", tune_seed=3, tune_eta=0.5))
    s = s.with_override(13, Override("interp", ref="abc", t=0.25))
    region = np.zeros((32, 32), bool)
    region[3:9, 4:7] = True
    s = s.with_free_region(FreeRegion.from_mask("abc", region)).with_settings(harmonizer="msca", alpha=0.5)
    r = EditState.from_json(s.to_json(), (32, 32))
    assert r.same_as(s)
    assert np.array_equal(r.free_regions[0].mask(), region)


@pytest.mark.parametrize(
    "make",
    [
        lambda: Override("bogus"),
        lambda: Override("reference"),
        lambda: Override("random", seed=-1),
        lambda: Override("random", seed=2**40),
        lambda: Override("color", rgb="#12345"),
        lambda: Override("color", rgb=(1, 2, 300)),
        lambda: Override("interp", ref="a", t=1.5),
        lambda: Override("own", tune_seed=1, tune_eta=float("inf")),
        lambda: EditState(mask=np.full((4, 4), 19, np.uint8)),
        lambda: EditState(mask=np.zeros((4, 4), np.float32)),
        lambda: _state().with_settings(harmonizer="x"),
        lambda: _state().with_settings(alpha=-1),
        lambda: _state().with_override(19, Override("own")),
    ],
)
def test_bad_values_raise_state_error(make):
    with pytest.raises(StateError):
        make()


@pytest.mark.parametrize(
    "doc",
    [
        None,
        [],
        {"mask_png": "!!!"},
        {"mask_png": "aGVsbG8="},
        {"mask_png": None},
    ],
)
def test_malformed_json_is_refused(doc):
    with pytest.raises(StateError):
        EditState.from_json(doc, (32, 32))


def test_unknown_region_in_saved_overrides():
    d = _state().to_json()
    d["overrides"] = {"tail": {"kind": "own"}}
    with pytest.raises(StateError, match="unknown region"):
        EditState.from_json(d, (32, 32))
    d["overrides"] = {"hair": {"kind": "own", "evil": 1}}
    with pytest.raises(StateError, match="unknown override fields"):
        EditState.from_json(d, (32, 32))


def test_parse_color():
    assert parse_color("#FF0080") == (255, 0, 128)
    assert parse_color("00ff00") == (0, 255, 0)
    for bad in ("red", "#GG0000", 5, "#12"):
        with pytest.raises(StateError):
            parse_color(bad)
