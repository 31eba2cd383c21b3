"""Corpus tests: the synthetic renderer (determinism, classes, labels vs pixels, relighting, transfer
ground truth) and the file readers (CelebAMask-HQ raw and combined, LaPa, folders, bad files)."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from engine.labels import INDEX, NAMES, NUM_CLASSES
from training.data import celebamask_hq as cm
from training.data.datasets import SpecError, collate, make_dataset
from training.data.folder import LabeledFolder, hash_split
from training.data.lapa import LAPA_TO_OURS, LaPa
from training.data.render import main as render_main
from training.data.sample import DatasetError, Sample
from training.data.synthetic import (
    TRANSFER_GROUPS,
    Lighting,
    class_frequencies,
    render_face,
    render_label,
    render_relit_pair,
    render_transfer_gt,
)

ID = INDEX


# ------------------------------------------------------------------------------------- renderer
def test_render_is_deterministic_per_seed():
    a, b, c = render_face(7, 96), render_face(7, 96), render_face(8, 96)
    assert isinstance(a, Sample) and a.image.shape == (96, 96, 3) and a.label.shape == (96, 96)
    assert a.image.dtype == np.uint8 and a.label.dtype == np.uint8
    assert np.array_equal(a.image, b.image) and np.array_equal(a.label, b.label)
    assert a.attrs == b.attrs and a.source == "synthetic:7"
    assert not np.array_equal(a.image, c.image)
    json.dumps(a.attrs)  # attributes are JSON-serialisable
    for key in (
        "hair_style",
        "hair_length",
        "mouth_open",
        "glasses",
        "hat",
        "earrings",
        "necklace",
        "skin_tone",
        "light_dir",
    ):
        assert key in a.attrs


def test_every_class_appears_often():
    freq = class_frequencies(100, 128)
    assert list(freq) == list(NAMES)
    rare = {n: f for n, f in freq.items() if f < 0.05}
    assert not rare, f"classes in < 5% of faces: {rare}"
    assert freq["mouth"] < 0.9 and freq["eye_g"] < 0.9 and freq["hat"] < 0.9  # options, not constants


def test_labels_are_exact_across_sizes():
    for seed in (3, 4):
        small, big = render_label(seed, 128), render_label(seed, 512)
        down = cv2.resize(big, (128, 128), interpolation=cv2.INTER_NEAREST)
        assert (down == small).mean() > 0.96
        assert set(np.unique(small)) <= set(np.unique(big))


def _label_r2(img: np.ndarray, lab: np.ndarray) -> float:
    x, y = img.reshape(-1, 3).astype(np.float64), lab.ravel()
    within = sum(x[y == c].var(0).sum() * (y == c).sum() for c in np.unique(y))
    return 1.0 - within / (x.var(0).sum() * len(y))


def test_labels_match_pixels():
    diffs, r2s = [], []
    for seed in range(10):
        f = render_face(seed, 128)
        r2 = _label_r2(f.image, f.label)  # share of pixel variance the label map explains
        shifted = np.roll(f.label, (9, 9), axis=(0, 1))
        assert r2 > _label_r2(f.image, shifted) + 0.02, seed
        r2s.append(r2)
        hair, skin = f.label == ID["hair"], f.label == ID["skin"]
        if hair.sum() > 100:
            diffs.append(np.abs(f.image[hair].mean(0) - f.image[skin].mean(0)).max())
    assert np.mean(r2s) > 0.45 and min(r2s) > 0.2
    assert len(diffs) >= 6 and min(diffs) > 10


def test_relit_pair_shares_labels_and_changes_light():
    dim = Lighting((0.0, -0.3, 0.95), intensity=0.4, ambient=0.2)
    bright = Lighting((0.0, -0.3, 0.95), intensity=0.9, ambient=0.35)
    a, b = render_relit_pair(11, 128, dim, bright)
    assert np.array_equal(a.label, b.label)
    assert not np.array_equal(a.image, b.image)
    for cls in np.unique(a.label):
        m = a.label == cls
        if m.sum() > 30:
            assert b.image[m].mean() > a.image[m].mean(), NAMES[cls]
    left, right = Lighting((-0.8, -0.2, 0.55)), Lighting((0.8, -0.2, 0.55))
    l_, r_ = render_relit_pair(11, 128, left, right)
    face = np.isin(l_.label, [ID["skin"], ID["nose"]])
    cols = np.arange(128)[None, :].repeat(128, 0)
    cx = cols[face].mean()
    lm, rm = face & (cols < cx), face & (cols >= cx)
    lum_l, lum_r = l_.image.astype(float).mean(2), r_.image.astype(float).mean(2)
    assert lum_l[lm].mean() - lum_l[rm].mean() > 5  # lit from the left: left half brighter
    assert lum_r[rm].mean() - lum_r[lm].mean() > 5


def _find_pair(group: str, min_gap: float) -> tuple[int, int]:
    cls = list(TRANSFER_GROUPS[group])
    for t in range(40):
        for s in range(t + 1, t + 15):
            ft, fs = render_face(t, 96), render_face(s, 96)
            mt, ms = np.isin(ft.label, cls), np.isin(fs.label, cls)
            if mt.sum() > 200 and ms.sum() > 200:
                gap = np.abs(ft.image[mt].mean(0) - fs.image[ms].mean(0)).max()
                if gap > min_gap:
                    return t, s
    raise AssertionError("no suitable pair")


@pytest.mark.parametrize("group", ["hair", "skin"])
def test_transfer_ground_truth(group):
    t, s = _find_pair(group, 50)
    target, source, gt = render_transfer_gt(t, s, (group,), 96)
    assert np.array_equal(target.label, render_label(t, 96))
    assert gt.shape == target.image.shape and gt.dtype == np.uint8
    cls = list(TRANSFER_GROUPS[group]) + ([ID["eye_g"]] if group == "skin" else [])
    m_t, m_s = np.isin(target.label, cls[:1]), np.isin(source.label, cls[:1])
    gt_mean, t_mean, s_mean = gt[m_t].mean(0), target.image[m_t].mean(0), source.image[m_s].mean(0)
    assert np.abs(gt_mean - s_mean).sum() < np.abs(gt_mean - t_mean).sum()
    # elsewhere the ground truth is the target (up to the blur and shading bleed at region borders)
    region = np.isin(target.label, cls).astype(np.uint8)
    outside = cv2.dilate(region, np.ones((9, 9), np.uint8)) == 0
    diff = np.abs(gt.astype(int) - target.image.astype(int))
    assert outside.sum() > 1000 and diff[outside].max() <= 2
    assert diff[region.astype(bool)].mean() > 5


def test_transfer_rejects_unknown_region():
    with pytest.raises(ValueError, match="unknown transfer region"):
        render_transfer_gt(1, 2, ("nose_ring",), 64)


def test_flip_swaps_left_and_right():
    f = render_face(5, 96)
    g = f.flipped()
    assert np.array_equal(g.image, f.image[:, ::-1])
    assert (g.label == ID["l_eye"]).sum() == (f.label == ID["r_eye"]).sum()


# ---------------------------------------------------------------------------------- file readers
def _png(path, arr) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    ok = cv2.imwrite(str(path), arr if arr.ndim == 2 else cv2.cvtColor(arr, cv2.COLOR_RGB2BGR))
    assert ok


def _photo(h, w, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 255, (h, w, 3), dtype=np.uint8)


def _box(n, y0, y1, x0, x1) -> np.ndarray:
    m = np.zeros((n, n), np.uint8)
    m[y0:y1, x0:x1] = 255
    return m


def test_celebamask_raw_merges_parts_in_priority(tmp_path):
    root = tmp_path / "CelebAMask-HQ"
    for i in (0, 1, 28000):
        _png(root / "CelebA-HQ-img" / f"{i}.jpg", _photo(64, 64, i))
        anno = root / "CelebAMask-HQ-mask-anno" / str(i // 2000)
        skin = _box(32, 4, 28, 4, 28)
        _png(anno / f"{i:05d}_skin.png", np.dstack([skin, skin * 0, skin * 0]))  # an RGB part mask
        _png(anno / f"{i:05d}_eye_g.png", _box(32, 8, 14, 6, 26))
        _png(anno / f"{i:05d}_l_eye.png", _box(32, 9, 13, 8, 12))
        _png(anno / f"{i:05d}_hair.png", _box(32, 0, 30, 0, 6))
        _png(anno / f"{i:05d}_cloth.png", _box(32, 26, 32, 0, 32))
        _png(anno / f"{i:05d}_neck.png", _box(32, 22, 28, 10, 22))
        _png(anno / f"{i:05d}_neck_l.png", _box(32, 24, 25, 12, 20))
    ds = make_dataset(f"celebamask-hq:{root}", "train", 32)
    assert ds.form == "raw" and len(ds) == 2  # ids 0 and 1; 28000 is test
    lab = ds[0].label
    assert lab[10, 10] == ID["l_eye"]  # eyes over glasses
    assert lab[10, 20] == ID["eye_g"]  # glasses over skin
    assert lab[20, 20] == ID["skin"] and lab[0, 20] == ID["background"]
    assert lab[27, 2] == ID["cloth"]  # clothes over hair (dataset order)
    assert lab[24, 15] == ID["neck_l"] and lab[23, 15] == ID["neck"]  # accessories last
    off = cm.CelebAMaskHQ(root, "test", 32, priority=cm.OFFICIAL_PRIORITY)
    assert len(off) == 1 and off[0].attrs["id"] == 28000
    assert off[0].label[24, 15] == ID["neck"]  # the dataset's own order loses the necklace
    assert ds[0].image.shape == (32, 32, 3)


def test_celebamask_combined_form(tmp_path):
    root = tmp_path / "cm"
    lab = np.zeros((32, 32), np.uint8)
    lab[8:24, 8:24] = ID["skin"]
    lab[:6] = ID["hair"]
    for i in (5, 28001):
        _png(root / "CelebA-HQ-img" / f"{i}.jpg", _photo(64, 64))
        _png(root / "CelebAMask-HQ-mask" / f"{i}.png", lab)
    ds = cm.CelebAMaskHQ(root, "train", 16)
    assert ds.form == "combined" and len(ds) == 1
    s = ds[0]
    assert s.label.shape == (16, 16) and s.label[8, 8] == ID["skin"] and s.label[0, 0] == ID["hair"]
    assert len(cm.CelebAMaskHQ(root, "test", 16)) == 1
    with pytest.raises(DatasetError):
        cm.CelebAMaskHQ(tmp_path / "nothing", "train", 16)


def test_lapa_mapping(tmp_path):
    root = tmp_path / "LaPa"
    lab = np.repeat(np.arange(11, dtype=np.uint8), 3)[None].repeat(8, 0)  # 8 x 33, every class
    _png(root / "train" / "images" / "a.jpg", _photo(8, 33))
    _png(root / "train" / "labels" / "a.png", lab)
    ds = make_dataset(f"lapa:{tmp_path}", "train", 8, fit="stretch")
    got = ds[0].label
    want = cv2.resize(LAPA_TO_OURS[lab], (8, 8), interpolation=cv2.INTER_NEAREST)
    assert np.array_equal(got, want)
    expected = {
        0: "background",
        1: "skin",
        2: "r_brow",  # LaPa's left is the image's left: the subject's right (engine.labels.LR_PAIRS)
        3: "l_brow",
        4: "r_eye",
        5: "l_eye",
        6: "nose",
        7: "u_lip",
        8: "mouth",
        9: "l_lip",
        10: "hair",
    }
    assert [NAMES[v] for v in LAPA_TO_OURS] == [expected[k] for k in range(11)]
    swapped = LaPa(root, "train", 8, swap_lr=True, fit="stretch")[0].label
    assert (swapped == ID["r_brow"]).sum() == (got == ID["l_brow"]).sum()
    assert np.array_equal(swapped == ID["l_eye"], got == ID["r_eye"])
    bad = root / "train" / "labels" / "b.png"
    _png(root / "train" / "images" / "b.jpg", _photo(8, 33))
    _png(bad, np.full((8, 33), 12, np.uint8))  # not a LaPa id
    ds = LaPa(root, "train", 8)
    assert ds.scan().counts["label value out of range"] == 1


def test_folder_reader_skips_and_counts_bad_files(tmp_path):
    root = tmp_path / "f"
    good = np.zeros((20, 20), np.uint8)
    good[5:15, 5:15] = ID["skin"]
    _png(root / "images" / "a_good.png", _photo(20, 20))
    _png(root / "labels" / "a_good.png", good)
    (root / "images" / "b_empty.jpg").write_bytes(b"")  # 0-byte image
    _png(root / "labels" / "b_empty.png", good)
    _png(root / "images" / "c_text.png", _photo(20, 20))
    (root / "labels" / "c_text.png").write_text("not a png")  # text named .png
    _png(root / "images" / "d_size.png", _photo(20, 20))
    _png(root / "labels" / "d_size.png", np.zeros((10, 10), np.uint8))  # wrong-size label
    _png(root / "images" / "e_nolabel.png", _photo(20, 20))
    _png(root / "images" / "f_good.png", _photo(20, 20, 3))
    _png(root / "labels" / "f_good.png", good)
    ds = LabeledFolder(root, "all", 16)
    assert len(ds) == 6
    s = ds[1]  # b is bad: the next good sample (f) comes back, no exception
    assert s.source == "folder:f_good" and s.label[8, 8] == ID["skin"]
    assert ds.report.total == 4  # b, c, d, e skipped on the way
    counts = ds.report.counts
    assert counts["empty file"] == 1 and counts["undecodable label"] == 1
    assert counts["label size does not match image"] == 1 and counts["missing label"] == 1
    assert "c_text.png" in ds.report.summary()
    assert ds[0].source == "folder:a_good"
    stems = [p.stem for p in (root / "images").iterdir()]
    n_train = sum(hash_split(x) == "train" for x in stems)
    assert len(LabeledFolder(root, "train", 16)) == n_train  # a stable hash split of the names
    only_bad = tmp_path / "bad"
    (only_bad / "images").mkdir(parents=True)
    (only_bad / "labels").mkdir()
    (only_bad / "images" / "x.png").write_bytes(b"")
    with pytest.raises(DatasetError, match="none of its"):
        LabeledFolder(only_bad, "all", 16)[0]


def test_photo_folder_uses_the_parser(tmp_path):
    for k in range(3):
        _png(tmp_path / "p" / f"{k}.jpg", _photo(30, 40, k))
    (tmp_path / "p" / "broken.jpg").write_text("nope")

    def parser(rgb):
        lab = np.zeros(rgb.shape[:2], np.uint8)
        lab[: rgb.shape[0] // 2] = ID["hair"]
        return lab

    ds = make_dataset(f"photos:{tmp_path / 'p'}", "all", 24, parser=parser)
    assert len(ds) == 4
    samples = [ds[i] for i in range(len(ds))]
    assert all(s.image.shape == (24, 24, 3) and s.label[0, 0] == ID["hair"] for s in samples)
    assert ds.report.counts["undecodable image"] == 1
    with pytest.raises(ValueError, match="parser"):
        make_dataset(f"photos:{tmp_path / 'p'}", "all", 24)


def test_make_dataset_specs_and_collate():
    ds = make_dataset("synthetic:5", "test", 64)
    assert len(ds) == 5 and ds[0].image.shape == (64, 64, 3)
    images, labels = collate([ds[0], ds[1]])
    assert tuple(images.shape) == (2, 3, 64, 64) and tuple(labels.shape) == (2, 64, 64)
    assert images.min() >= -1 and images.max() <= 1 and int(labels.max()) < NUM_CLASSES
    assert ds[0].source != make_dataset("synthetic", "train", 64)[0].source  # splits differ
    for bad in ("celeba", "lapa", "", "synthetic:x"):
        with pytest.raises(SpecError):
            make_dataset(bad, "train", 64)


# ------------------------------------------------------------------------------------ render CLI
def test_render_cli_writes_files(tmp_path, capsys):
    out = tmp_path / "out"
    assert (
        render_main(["--count", "3", "--size", "64", "--out", str(out), "--seed", "10", "--no-progress"]) == 0
    )
    names = sorted(p.name for p in (out / "images").iterdir())
    assert names == ["00000010.png", "00000011.png", "00000012.png"]
    lab = cv2.imread(str(out / "labels" / "00000011.png"), cv2.IMREAD_UNCHANGED)
    assert lab.ndim == 2 and np.array_equal(lab, render_label(11, 64))
    meta = [json.loads(x) for x in (out / "meta.jsonl").read_text().splitlines()]
    assert [m["seed"] for m in meta] == [10, 11, 12]
    assert render_main(["--count", "1", "--size", "64", "--out", str(out), "--relit", "--no-progress"]) == 0
    assert (out / "images" / "00000000_a.png").exists() and (out / "images" / "00000000_b.png").exists()
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert render_main(["--count", "1", "--out", str(blocker / "sub"), "--no-progress"]) == 2
    assert "cannot write" in capsys.readouterr().err


def test_mixed_sources_draw_in_proportion_and_repeat(tmp_path):
    from training.stages.common import MixedSource, make_source

    src = make_source("synthetic:5*3+synthetic-photo:5", 32, first_seed=0, seed=1)
    assert isinstance(src, MixedSource)
    picks = [src.part_of(k) for k in range(2000)]
    assert 0.7 < picks.count(0) / len(picks) < 0.8
    assert picks == [src.part_of(k) for k in range(2000)]  # from (seed, k) alone
    k = next(k for k, p in enumerate(picks) if p == 1)
    photo, plain = src(k), make_source("synthetic:5", 32, first_seed=0, seed=1)(k)
    assert photo.attrs.get("photo") and np.array_equal(photo.label, plain.label)
    with pytest.raises(ValueError, match="weight"):
        make_source("synthetic*x+synthetic", 32, first_seed=0)
    with pytest.raises(ValueError, match="positive"):
        make_source("synthetic*0+synthetic", 32, first_seed=0)
