"""EditSession through the real engine with a tiny random bundle and a fixed-layout parser."""

import json

import cv2
import numpy as np
import pytest

from engine.bundle import load_bundle
from engine.imageio import load_image, save_image
from engine.session import EditSession, EngineError, FaceEngine, SessionFileError, StateError
from tests.engine.session_fixtures import LayoutParser, textured_photo


@pytest.fixture(scope="module")
def engine(tiny_bundle):
    return FaceEngine(load_bundle(tiny_bundle, device="cpu"), parser=LayoutParser())


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    d = tmp_path_factory.mktemp("photos")
    save_image(d / "photo.png", textured_photo(180, 240, 1))
    save_image(d / "ref.png", textured_photo(150, 150, 2))
    return d


@pytest.fixture
def session(engine, photos):
    return EditSession(engine, engine.prepare(photos / "photo.png"))


def _outside_changed(session, before_full, after_full):
    """Pixels outside the warped edit region must be bit-exact."""
    region = session.engine.changed_region(session.prepared, session.state).astype(np.uint8)
    region = cv2.dilate(region, np.ones((9, 9), np.uint8))
    inv = cv2.invertAffineTransform(session.prepared.alignment.matrix)
    h, w = before_full.shape[:2]
    warped = cv2.warpAffine(region, inv, (w, h), flags=cv2.INTER_LINEAR)
    warped = cv2.dilate(warped, np.ones((5, 5), np.uint8))
    diff = np.any(before_full != after_full, axis=2)
    assert diff.any(), "the edit changed nothing"
    assert not diff[warped == 0].any(), "pixels outside the edited region changed"


EDITS = {
    "transfer": lambda s, ref: s.transfer(ref, ["hair"]),
    "swap": lambda s, ref: s.face_swap(ref),
    "color": lambda s, ref: s.color("u_lip", "#ff0000"),
    "random": lambda s, ref: s.random_style("hair", 5),
    "tune": lambda s, ref: s.tune("skin", 3, 2.0),
    "interp": lambda s, ref: s.interpolate("hair", ref, 0.5),
    "free": lambda s, ref: s.stylize_free_region(np.pad(np.ones((10, 10), bool), ((5, 49), (5, 49))), ref),
    "brush": lambda s, ref: s.paint_brush([(10, 10), (30, 12)], 3, 13),
    "fill": lambda s, ref: s.fill(2, 2, 18),
    "polygon": lambda s, ref: s.paint_polygon([(0, 0), (20, 0), (0, 20)], 14),
    "rect": lambda s, ref: s.paint_rect(40, 2, 60, 10, 14),
}


@pytest.mark.parametrize("kind", sorted(EDITS))
def test_each_edit_changes_its_region_only(session, photos, kind):
    ref = session.add_reference(photos / "ref.png")
    before_crop, before_full = session.render(), session.render_full()
    assert np.array_equal(before_crop, session.prepared.crop)
    EDITS[kind](session, ref)
    crop = session.render()
    region = session.engine.changed_region(session.prepared, session.state)
    assert np.any(crop[region] != before_crop[region])
    far = cv2.dilate(region.astype(np.uint8), np.ones((9, 9), np.uint8)) == 0
    assert np.array_equal(crop[far], before_crop[far])
    _outside_changed(session, before_full, session.render_full())


def test_undo_restores_exact_render_and_redo_reapplies(session, photos):
    first = session.render()
    session.color("hair", "#2040ff")
    second = session.render()
    session.paint_brush([(5, 40), (20, 40)], 4, 1)
    third = session.render()
    assert session.undo() and np.array_equal(session.render(), second)
    assert session.undo() and np.array_equal(session.render(), first)
    assert not session.undo()
    assert session.redo() and session.redo()
    assert np.array_equal(session.render(), third)


def test_rsm_is_reproducible(session):
    session.random_style("hair", 11)
    a = session.render()
    session.random_style("hair", 12)
    b = session.render()
    session.random_style("hair", 11)
    assert np.array_equal(session.render(), a) and not np.array_equal(a, b)


def test_harmonizer_and_whole_face_modes(session, photos):
    ref = session.add_reference(photos / "ref.png")
    session.transfer(ref, ["hair", "skin"])
    outs = {}
    for h in ("off", "mrsa", "msca"):
        session.set_harmonizer(h, 1.0)
        outs[h] = session.render()
    assert not np.array_equal(outs["off"], outs["msca"])
    session.set_composite("whole")
    whole = session.render()
    bg = session.prepared.parsed_mask == 0
    assert np.any(whole[bg] != session.prepared.crop[bg])


def test_session_file_round_trip_is_exact(session, photos, tmp_path, engine):
    ref = session.add_reference(photos / "ref.png")
    session.transfer(ref, ["hair"])
    session.tune("skin", 2, 1.0)
    session.paint_rect(0, 0, 10, 10, 14)
    path = tmp_path / "edit.fpsession"
    session.save(path)
    restored = EditSession.load(path, engine)
    assert restored.state.same_as(session.state)
    assert np.array_equal(restored.render(), session.render())
    doc = json.loads(path.read_text())
    doc["version"] = 99
    path.write_text(json.dumps(doc))
    with pytest.raises(SessionFileError, match="version 99"):
        EditSession.load(path, engine)


def test_large_photo_exports_at_full_size(engine, tmp_path):
    big = textured_photo(3000, 4000, 7)
    s = EditSession(engine, engine.prepare(big))
    s.color("hair", "#ffcc00")
    out = tmp_path / "big.jpg"
    s.export(out, mask_path=tmp_path / "m.png", session_path=None)
    img = load_image(out)
    assert img.rgb.shape == (3000, 4000, 3)


def test_unedited_export_is_bit_exact(session, tmp_path):
    out = tmp_path / "same.png"
    session.export(out)
    assert np.array_equal(load_image(out).rgb, session.prepared.photo.rgb)


@pytest.mark.parametrize(
    "call,err",
    [
        (lambda s: s.transfer("nonexistent-ref-id.png", ["hair"]), EngineError),
        (lambda s: s.color("tail", "#ffffff"), ValueError),
        (lambda s: s.color("hair", "#xyzxyz"), StateError),
        (lambda s: s.set_harmonizer("best"), StateError),
        (lambda s: s.set_mask(np.full((64, 64), 25, np.uint8)), ValueError),
        (lambda s: s.set_mask(np.zeros((10, 10), np.uint8)), ValueError),
        (lambda s: s.stylize_free_region(np.zeros((64, 64), bool), s.prepared.id), Exception),
    ],
)
def test_bad_edit_arguments_fail_clearly(session, call, err):
    with pytest.raises(err):
        call(session)


def test_crop_placed_by_hand_and_reference_memory(engine, photos):
    prep = engine.prepare(photos / "photo.png", crop_box=(120, 90, 100))
    assert prep.alignment.method == "manual"
    np.testing.assert_allclose(prep.alignment.to_crop([(120, 90)])[0], [31.5, 31.5], atol=1.0)
    rid = engine.add_reference(photos / "ref.png")
    ref = engine.reference(rid)
    assert ref.photo.rgb.shape == ref.crop.shape and len(ref.sha256) == 64
    with pytest.raises(EngineError, match="crop box"):
        engine.prepare(photos / "photo.png", crop_box=(1, 2))


def test_mrsa_changes_only_pasted_rows(tiny_bundle, photos):
    """MRSA's correction lands on styles taken from another face (reference, RSM draw), never on a
    colour edit (already in this photo's light) or on regions nobody edited."""
    import torch

    from engine.labels import INDEX

    bundle = load_bundle(tiny_bundle, device="cpu")
    torch.manual_seed(0)
    with torch.no_grad():  # an MRSA whose correction is far from zero
        for p in bundle.nets["mrsa"].parameters():
            p.copy_(torch.randn_like(p))
    engine = FaceEngine(bundle, parser=LayoutParser())
    session = EditSession(engine, engine.prepare(photos / "photo.png"))
    ref = session.add_reference(photos / "ref.png")
    session.transfer(ref, ["hair"])
    session.color("u_lip", "#ff0000")
    session.random_style("skin", 4)
    drawn = set(session.last_edit.regions)
    session.set_harmonizer("mrsa", 1.0)
    r = engine.resolve(session.prepared, session.state)
    s_r = r.composed
    h = engine.renderer.harmonised(session.prepared, session.state, r.own, s_r, r.edited, r.pasted)
    out = h.styles[0]
    changed = (out != s_r).any(dim=1)
    assert changed[INDEX["hair"]] and changed[INDEX["skin"]]
    assert not changed[INDEX["u_lip"]]
    # the random draw covers skin's whole RSM group (as present in the mask): exactly those rows and hair
    assert INDEX["skin"] in drawn and INDEX["u_lip"] not in drawn
    assert set(torch.nonzero(changed).flatten().tolist()) == drawn | {INDEX["hair"]}
    session.set_harmonizer("off", 1.0)
    off = session.render()
    session.set_harmonizer("mrsa", 0.0)
    assert np.array_equal(session.render(), off)  # alpha 0 is no harmoniser


def test_version_1_sessions_are_renamed_to_todays_left_and_right(session, photos, tmp_path, engine):
    from engine.labels import INDEX, NAMES, swap_left_right

    # files before version 3 were painted on the networks' grid (k = 1)
    session = EditSession(engine, engine.prepare(session.prepared.photo, alignment=session.prepared.alignment,
                                                 work_scale=1))  # fmt: skip
    session.paint_rect(2, 2, 20, 20, INDEX["l_eye"])
    session.color("r_brow", "#203040")
    path = tmp_path / "now.fpsession"
    session.save(path)
    doc = json.loads(path.read_text())
    assert doc["version"] == 3
    # the same edit as a version-1 file writes it: every left/right class named the other way round
    old = EditSession(engine, session.prepared, session.state.sides_renamed())
    old.prepared = engine.prepare(
        session.prepared.photo, alignment=session.prepared.alignment,
        parsed_mask=swap_left_right(session.prepared.parsed_mask), work_scale=1,
    )
    old.save(tmp_path / "old.fpsession")
    v1 = json.loads((tmp_path / "old.fpsession").read_text())
    assert set(v1["state"]["overrides"]) == {NAMES[INDEX["l_brow"]]}
    v1["version"] = 1
    del v1["parsed_work"]
    (tmp_path / "old.fpsession").write_text(json.dumps(v1))
    restored = EditSession.load(tmp_path / "old.fpsession", engine)
    assert restored.state.same_as(session.state)
    assert np.array_equal(restored.prepared.parsed_mask, session.prepared.parsed_mask)


def test_masks_in_the_mirrored_convention_are_renamed_with_a_note(tmp_path):
    from engine.imageio import read_mask, save_mask
    from engine.labels import INDEX, swap_left_right

    m = np.zeros((64, 64), np.uint8)
    m[20:30, 40:50] = INDEX["l_eye"]  # ours: the subject's left eye, on the image's right
    m[20:30, 14:24] = INDEX["r_eye"]
    save_mask(tmp_path / "ours.png", m)
    got, note = read_mask(tmp_path / "ours.png")
    assert np.array_equal(got, m) and note == ""
    cv2.imwrite(str(tmp_path / "theirs.png"), swap_left_right(m))  # no tag, l_eye on the image's left
    got, note = read_mask(tmp_path / "theirs.png")
    assert np.array_equal(got, m) and "swapped" in note
