"""Every stage runs a few tiny steps on one repeated synthetic batch, and its loss falls."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.bundle import load_bundle, save_bundle
from training.loop import train
from training.stages.common import net_configs

COMMON = dict(
    tiny=True,
    size=64,
    batch_size=4,
    repeat_batch=True,
    progress=False,
    tensorboard=False,
    ckpt_every=0,
    log_every=0,
    device="cpu",
    threads=1,
)


@pytest.fixture(scope="module")
def helpers(tmp_path_factory):
    """A tiny random encoder + parser saved as a bundle (what the earlier stages would hand over)."""
    from engine.models.encoder import StyleEncoder
    from engine.models.parser_net import FaceParser

    torch.manual_seed(0)
    cfgs = net_configs(True)
    path = tmp_path_factory.mktemp("helpers") / "nets"
    save_bundle(
        path, {"encoder": StyleEncoder(cfgs["encoder"]), "parser": FaceParser(cfgs["parser"])}, resolution=64
    )
    return path


def _falls(res, factor=0.85):
    """The mean of the last two losses is below the first two by (1 - factor) of their size."""
    first, last = res.first_loss(n=2), res.last_loss(n=2)
    assert last < first - (1 - factor) * abs(first), f"{res.stage}: loss {first:.4f} -> {last:.4f}"


def test_parser_stage(tmp_path):
    from training.stages.parser import ParserStage, ParserStageConfig

    res = train(ParserStage, ParserStageConfig(out=str(tmp_path), steps=12, lr=1e-2, **COMMON))
    _falls(res)
    assert load_bundle(res.nets_dir, device="cpu").has("parser")

    # continue from that parser with a cosine schedule: it starts where the first run ended
    again = train(
        ParserStage,
        ParserStageConfig(
            out=str(tmp_path / "again"),
            steps=6,
            lr=1e-2,
            init_from=str(res.nets_dir),
            lr_schedule="cosine",
            **COMMON,
        ),
    )
    assert again.first_loss(n=1) < 0.75 * res.first_loss(n=1)  # exported EMA: part of the way
    lrs = [h["lr"] for h in again.history]
    assert lrs[0] == pytest.approx(1e-2) and all(a > b for a, b in zip(lrs, lrs[1:], strict=False))
    assert lrs[-1] > 0.05e-2


def test_parser_augmentation_keeps_labels_aligned():
    from training.data.synthetic import render_face
    from training.stages.parser import FLIP_LUT, ParserStageConfig, augment

    s = render_face(3, 64)
    cfg = ParserStageConfig(jpeg_prob=1.0, blur_prob=1.0, noise_prob=1.0, flip_prob=1.0)
    img, lab = augment(s.image, s.label, np.random.default_rng(0), cfg)
    assert img.shape == s.image.shape and img.dtype == np.uint8 and lab.dtype == np.uint8
    assert set(np.unique(lab)) <= set(np.unique(FLIP_LUT[s.label]))  # nearest: no new ids
    assert not np.array_equal(img, s.image)
    again = augment(s.image, s.label, np.random.default_rng(0), cfg)
    assert np.array_equal(again[0], img) and np.array_equal(again[1], lab)


def test_generator_stage_mrsa(tmp_path, helpers):
    from training.stages.generator import GeneratorStage, GeneratorStageConfig

    cfg = GeneratorStageConfig(
        out=str(tmp_path),
        steps=10,
        lr=3e-3,
        parser_from=str(helpers),
        align_every=3,
        harmony_every=3,
        harmony_batch=2,
        **COMMON,
    )
    res = train(GeneratorStage, cfg)
    _falls(res)
    keys = set().union(*res.history)
    assert {"perceptual", "g_adv", "fm", "d_loss", "parse_ce", "align"} <= keys
    assert "harmony" not in keys  # MRSA's harmonisation is the mrsa stage's
    bundle = load_bundle(res.nets_dir, device="cpu")
    assert set(bundle.nets) == {"encoder", "generator"}


def _mrsa_cfg(tmp_path, helpers, **kw):
    from training.stages.mrsa import MRSAStageConfig

    opts = dict(COMMON, batch_size=4, repeat_batch=False, triplets=6, lr=1e-2, encoder_from=str(helpers))
    opts.update(kw)
    return MRSAStageConfig(out=str(tmp_path), **opts)


def test_mrsa_stage_learns_the_relit_styles(tmp_path, helpers):
    from training.stages.mrsa import MRSAStage

    res = train(MRSAStage, _mrsa_cfg(tmp_path, helpers, steps=100, lr=5e-3, repeat_batch=True))
    # On one repeated batch the harmonised styles must end up much nearer the relit ground truth
    # than the pasted ones ("off"), which start out equal to them.
    first, last = res.history[0], res.history[-1]
    assert first["edited_l1"] == pytest.approx(first["edited_l1_off"])
    assert last["edited_l1"] < 0.7 * last["edited_l1_off"]
    _falls(res, factor=0.75)
    bundle = load_bundle(res.nets_dir, device="cpu")
    assert set(bundle.nets) == {"mrsa"} and bundle.nets["mrsa"].cfg.ffn_dim > 0


def test_mrsa_stage_resume_is_exact(tmp_path, helpers):
    """The per-run cache of encoded triplets must not change what a resumed run computes."""
    from training.stages.mrsa import MRSAStage

    full = train(MRSAStage, _mrsa_cfg(tmp_path / "full", helpers, steps=6, ckpt_every=3))
    train(MRSAStage, _mrsa_cfg(tmp_path / "part", helpers, steps=6, ckpt_every=3), stop_after=3)
    again = train(MRSAStage, _mrsa_cfg(tmp_path / "part", helpers, steps=6, ckpt_every=3))
    a = load_bundle(full.nets_dir, device="cpu").nets["mrsa"].state_dict()
    b = load_bundle(again.nets_dir, device="cpu").nets["mrsa"].state_dict()
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)


def test_mrsa_stage_needs_synthetic_and_encoder(tmp_path, helpers, tmp_path_factory):
    from training.stages.mrsa import MRSAStage

    with pytest.raises(ValueError, match="--encoder-from"):
        train(MRSAStage, _mrsa_cfg(tmp_path, helpers, steps=1, encoder_from=""))
    with pytest.raises(ValueError, match="synthetic corpus"):
        train(MRSAStage, _mrsa_cfg(tmp_path, helpers, steps=1, data="folder:" + str(tmp_path)))


def test_generator_stage_msca(tmp_path, helpers):
    from training.stages.generator import GeneratorStage, GeneratorStageConfig

    cfg = GeneratorStageConfig(
        out=str(tmp_path),
        variant="msca",
        steps=12,
        lr=3e-3,
        gan_weight=0.0,
        init_from=str(helpers),
        harmony_every=3,
        harmony_batch=2,
        **COMMON,
    )
    res = train(GeneratorStage, cfg)
    _falls(res)
    assert "harmony" in set().union(*res.history)
    assert set(load_bundle(res.nets_dir, device="cpu").nets) == {"msca", "generator_msca"}


def test_generator_msca_needs_encoder(tmp_path):
    from training.stages.generator import GeneratorStage, GeneratorStageConfig

    with pytest.raises(ValueError, match="--init-from"):
        train(GeneratorStage, GeneratorStageConfig(out=str(tmp_path), variant="msca", steps=1, **COMMON))


def test_rsm_stage(tmp_path, helpers):
    from training.stages.rsm import RSMStage, RSMStageConfig

    res = train(
        RSMStage, RSMStageConfig(out=str(tmp_path), steps=15, lr=5e-3, encoder_from=str(helpers), **COMMON)
    )
    _falls(res)
    assert load_bundle(res.nets_dir, device="cpu").has("rsm")


def test_flow_stage(tmp_path, helpers):
    from training.stages.flow import FlowStage, FlowStageConfig

    cfg = FlowStageConfig(
        out=str(tmp_path),
        steps=10,
        lr=1e-2,
        encoder_from=str(helpers),
        stats_samples=8,
        ode_steps=2,
        pool=0,
        **COMMON,
    )
    res = train(FlowStage, cfg)
    _falls(res, 0.7)
    flow = load_bundle(res.nets_dir, device="cpu").get("flow")
    assert not torch.equal(flow.std, torch.ones_like(flow.std))  # normalisation set from data


def test_style_cache_is_pure_memoisation(helpers):
    """Cached styles equal freshly computed ones, and each face is encoded once."""
    from training.stages.common import StyleCache, load_nets, pooled_source

    enc = load_nets(helpers, ("encoder",))["encoder"]
    calls = []
    enc.register_forward_hook(lambda m, i, o: calls.append(i[0].shape[0]))
    src = pooled_source("synthetic", 64, first_seed=1_000_000, seed=0, pool=5)
    assert src.length == 5
    cached = StyleCache(src, enc, "cpu", keep=True)
    fresh = StyleCache(src, enc, "cpu", keep=False)
    a = cached([0, 1, 2, 7])  # position 7 is in the second pass over the 5-face pool
    b = cached([2, 3, 4, 5, 6, 0])
    assert sum(calls) == 5  # every pool face encoded exactly once
    assert torch.allclose(a[0], fresh([0, 1, 2, 7])[0]) and torch.equal(a[1], fresh([0, 1, 2, 7])[1])
    assert torch.allclose(b[0], fresh([2, 3, 4, 5, 6, 0])[0])
    assert pooled_source("synthetic", 64, first_seed=1_000_000, seed=0, pool=0).length is None


def test_harmony_stage(tmp_path):
    from training.stages.harmony import HarmonyStage, HarmonyStageConfig

    res = train(HarmonyStage, HarmonyStageConfig(out=str(tmp_path), steps=12, lr=1e-2, **COMMON))
    _falls(res)
    assert load_bundle(res.nets_dir, device="cpu").has("harmony")


def test_harmony_examples_are_balanced_and_valid():
    from training.stages.harmony import make_example

    real = 0
    for k in range(16):
        img, region, ok = make_example(k, 64, np.random.default_rng(k))
        assert img.shape == (64, 64, 3) and img.dtype == np.uint8
        assert region.shape == (64, 64) and region.any()
        real += ok
    assert 3 <= real <= 13


def test_generator_resume_is_exact(tmp_path, helpers):
    """A real stage (GAN, spectral norm, alignment masks, transfer triplets, EMA) resumes bit-exactly."""
    from safetensors.torch import load_file

    from training.checkpoint import latest_checkpoint
    from training.stages.generator import GeneratorStage, GeneratorStageConfig

    def cfg(out):
        kw = dict(COMMON, repeat_batch=False, batch_size=2)
        return GeneratorStageConfig(
            out=str(out),
            steps=4,
            parser_from=str(helpers),
            harmony_batch=1,
            align_every=2,
            harmony_every=2,
            **kw,
        )

    train(GeneratorStage, cfg(tmp_path / "full"))
    train(GeneratorStage, cfg(tmp_path / "part"), stop_after=1)
    train(GeneratorStage, cfg(tmp_path / "part"))
    a = load_file(str(latest_checkpoint(tmp_path / "full") / "model.safetensors"))
    b = load_file(str(latest_checkpoint(tmp_path / "part") / "model.safetensors"))
    assert set(a) == set(b) and any(k.startswith("disc.") for k in a)
    for k in a:
        assert torch.equal(a[k], b[k]), k
