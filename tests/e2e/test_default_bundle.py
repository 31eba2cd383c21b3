"""End to end through the real default bundle: open a bundled sample, parse, edit, export."""

from pathlib import Path

import cv2
import numpy as np
import pytest

from engine.bundle import default_bundle_path, load_bundle
from engine.imageio import load_image
from engine.labels import INDEX
from engine.session import EditSession, FaceEngine

SAMPLES = Path(__file__).resolve().parents[2] / "resources" / "samples"
HAIR, SKIN = INDEX["hair"], INDEX["skin"]


@pytest.fixture(scope="module")
def engine():
    path = default_bundle_path()
    assert (path / "bundle.json").exists(), f"the default bundle is missing at {path}"
    return FaceEngine(load_bundle(path, device="cpu"))


@pytest.fixture(scope="module")
def session(engine):
    return EditSession(engine, engine.prepare(SAMPLES / "face_01_long_hair.png"))


def _true_labels(session, seed=111):
    from training.data.synthetic import render_label

    lab = render_label(seed, 512)
    R = session.engine.resolution
    return cv2.warpAffine(lab, session.prepared.alignment.matrix, (R, R), flags=cv2.INTER_NEAREST,
                          borderMode=cv2.BORDER_REPLICATE)


def test_sample_is_found_and_parsed(session):
    assert session.prepared.face_found, session.prepared.status
    truth = _true_labels(session)
    acc = float((session.prepared.parsed_mask == truth).mean())
    assert acc > 0.85, f"parser pixel accuracy on a bundled sample is {acc:.3f}"
    assert session.prepared.present[HAIR] and session.prepared.present[SKIN]


def _mean(img, region):
    return img[region].astype(float).mean(0)


def test_hair_colour_edit_moves_hair_only(session, tmp_path):
    hair = session.prepared.parsed_mask == HAIR  # on the networks' grid, as render() is
    before = session.render()
    session.color("hair", "#1060ff")
    after = session.render()
    target = np.array([16, 96, 255], float)
    assert np.linalg.norm(_mean(after, hair) - target) < np.linalg.norm(_mean(before, hair) - target) - 20
    far = cv2.dilate(hair.astype(np.uint8), np.ones((15, 15), np.uint8)) == 0
    assert np.array_equal(after[far], before[far])
    out = tmp_path / "edited.png"
    session.export(out)
    full = load_image(out).rgb
    assert full.shape == session.prepared.photo.rgb.shape
    session.reset_region("hair")


def test_transfer_takes_the_reference_hair_colour(session):
    ref = session.add_reference(SAMPLES / "face_02_short_hair_dark_skin.png")
    ref_prep = session.engine.reference(ref)
    ref_hair = _mean(ref_prep.crop, ref_prep.parsed_mask == HAIR)
    hair = session.prepared.parsed_mask == HAIR  # on the networks' grid, as render() is
    before = session.render()
    session.transfer(ref, ["hair"])
    after = session.render()
    assert np.linalg.norm(_mean(after, hair) - ref_hair) < np.linalg.norm(_mean(before, hair) - ref_hair)
    session.undo()
    assert np.array_equal(session.render(), before)
