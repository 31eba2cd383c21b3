"""Renaming left and right in trained networks is exact: the converted network on a renamed mask does
what the old one did on the old mask (engine.sides, bundle format 1 -> 2)."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch

from engine import labels
from engine.models.layers import one_hot
from engine.sides import swap_sides
from tests.conftest import build_tiny_nets

PERM = torch.as_tensor(labels.MIRROR, dtype=torch.long)


def _mask(seed=0, size=64):
    g = torch.Generator().manual_seed(seed)
    lab = torch.randint(0, labels.NUM_CLASSES, (1, size // 8, size // 8), generator=g)
    lab = lab.repeat_interleave(8, 1).repeat_interleave(8, 2)
    return lab, one_hot(lab, labels.NUM_CLASSES)


def _renamed(lab):
    return one_hot(PERM[lab], labels.NUM_CLASSES)


@pytest.fixture(scope="module")
def nets():
    old = build_tiny_nets()
    for n in old.values():
        n.eval()
        with torch.no_grad():  # make every per-class parameter differ between classes
            for p in n.parameters():
                p.add_(torch.randn_like(p) * 0.1)
    new = {k: swap_sides(copy.deepcopy(v)) for k, v in old.items()}
    return old, new


@torch.no_grad()
def test_generator_and_parser(nets):
    old, new = nets
    lab, m = _mask()
    s = torch.randn(1, labels.NUM_CLASSES, old["generator"].cfg.style_dim)
    a = old["generator"](m, s, noise_seed=0)
    b = new["generator"](_renamed(lab), s[:, PERM], noise_seed=0)
    assert torch.allclose(a, b, atol=1e-5)
    x = torch.rand(1, 3, 64, 64) * 2 - 1
    assert torch.allclose(new["parser"](x), old["parser"](x)[:, PERM], atol=1e-5)


@torch.no_grad()
def test_mrsa_msca_flow_rsm(nets):
    old, new = nets
    S = old["mrsa"].cfg.style_dim
    s_t, s_r = torch.randn(2, labels.NUM_CLASSES, S), torch.randn(2, labels.NUM_CLASSES, S)
    assert torch.allclose(new["mrsa"](s_t[:, PERM], s_r[:, PERM]), old["mrsa"](s_t, s_r)[:, PERM], atol=1e-5)
    lab, m = _mask(1)
    lab2, m2 = _mask(2)
    pyr = old["encoder"].pyramid(torch.rand(1, 3, 64, 64))
    a = old["msca"](m, pyr, m2)
    assert torch.allclose(new["msca"](_renamed(lab), pyr, _renamed(lab2)), a, atol=1e-5)
    style = torch.randn(3, S)
    cls = torch.tensor([4, 7, 9])
    assert torch.allclose(new["flow"].to_z(style, PERM[cls]), old["flow"].to_z(style, cls), atol=1e-4)
    for c in (4, 5, 6, 9, 13):
        assert torch.allclose(new["rsm"].sample(int(labels.MIRROR[c]), 3), old["rsm"].sample(c, 3))


def test_unknown_network_type_is_refused():
    with pytest.raises(TypeError, match="cannot rename"):
        swap_sides(torch.nn.Linear(2, 2))


def test_format_1_bundles_are_converted_on_load(tiny_bundle, tmp_path):
    import shutil

    from engine.bundle import load_bundle

    old_dir = tmp_path / "v1"
    shutil.copytree(tiny_bundle, old_dir)
    meta = json.loads((old_dir / "bundle.json").read_text())
    meta["format_version"] = 1
    (old_dir / "bundle.json").write_text(json.dumps(meta))
    v1, v2 = load_bundle(old_dir, device="cpu"), load_bundle(tiny_bundle, device="cpu")
    w1 = v1.nets["parser"].state_dict()["head.weight"]
    w2 = v2.nets["parser"].state_dict()["head.weight"]
    assert torch.equal(w1, w2[PERM]) and not torch.equal(w1, w2)
    assert v1.nets["rsm"].cfg.groups["eyes"] == tuple(int(labels.MIRROR[c]) for c in v2.nets["rsm"].cfg.groups["eyes"])
    assert np.array_equal(labels.MIRROR[labels.MIRROR], np.arange(labels.NUM_CLASSES))


def test_undo_steps_rename_like_states():
    from engine.history import CompactDelta, MaskOp, StyleOp
    from engine.maskops import brush
    from engine.state import EditState, Override

    rng = np.random.default_rng(0)
    st = EditState(mask=rng.integers(0, 19, (24, 24)).astype(np.uint8))
    ops = [
        MaskOp("m", CompactDelta.from_delta(brush(st.mask, [(3, 3), (20, 9)], 3, 4))),
        StyleOp("s", [(4, None, Override("color", rgb=(1, 2, 3))), (8, None, Override("own", source_region=6, tune_seed=1, tune_eta=0.5))]),
    ]
    for op in ops:
        after = op.transform(st, True)
        assert op.sides_renamed().transform(st.sides_renamed(), True).same_as(after.sides_renamed())
        assert op.sides_renamed().sides_renamed().record() == op.record()
