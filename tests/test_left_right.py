"""Left and right are the subject's, as CelebAMask-HQ has them: l_* lies on the image's right."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine import labels

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "celebamask-mini" / "labels"


def _centroid_x(mask: np.ndarray, cls: int) -> float:
    ys, xs = np.nonzero(mask == cls)
    return float(xs.mean()) / mask.shape[1]


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_the_corpus_draws_left_classes_on_the_image_right(seed):
    from training.data.synthetic import render_face

    face = render_face(seed, 128)
    for left, right in labels.LR_PAIRS:
        if (face.label == left).any() and (face.label == right).any():
            assert labels.IMAGE_SIDE[left] == 1 and labels.IMAGE_SIDE[right] == -1
            assert _centroid_x(face.label, left) > 0.5 > _centroid_x(face.label, right), labels.NAMES[left]
    assert labels.mirrored_convention(face.label) is False
    assert labels.mirrored_convention(labels.swap_left_right(face.label)) is True


def test_mirror_table_and_swap():
    m = labels.MIRROR
    for a, b in labels.LR_PAIRS:
        assert m[a] == b and m[b] == a
    assert sorted(m.tolist()) == list(range(labels.NUM_CLASSES))
    assert (m[m] == np.arange(labels.NUM_CLASSES)).all()
    mask = np.array([[4, 5, 6, 7, 8, 9, 12, 13]], np.uint8)
    assert labels.swap_left_right(mask).tolist() == [[5, 4, 7, 6, 9, 8, 12, 13]]
    assert labels.mirrored_convention(np.zeros((4, 4), np.uint8)) is None


@pytest.mark.skipif(not REAL.is_dir(), reason="the real CelebAMask-HQ sample is not beside the checkout")
def test_real_celebamask_labels_follow_the_same_convention():
    from PIL import Image

    files = sorted(REAL.glob("*.png"))[:40]
    verdicts = [labels.mirrored_convention(np.array(Image.open(f))) for f in files]
    known = [v for v in verdicts if v is not None]
    # a few CelebAMask-HQ maps are themselves drawn mirrored (2 of these 40): the readers fix those
    assert len(known) >= 30 and sum(known) <= len(known) // 10


def test_legend_words_say_whose_side():
    assert labels.describe_region(labels.INDEX["l_eye"]).endswith("the subject's left, on the image's right in a frontal photo")
    assert "subject's right, on the image's left" in labels.describe_region(labels.INDEX["r_ear"])
    assert labels.describe_region(labels.INDEX["hair"]) == "Hair"
