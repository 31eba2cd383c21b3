"""Core engine networks: layers, encoder, generator, parser, harmony scorer (tiny instances)."""

from __future__ import annotations

import json
from dataclasses import asdict

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load, save

from engine.labels import NUM_CLASSES
from engine.models.encoder import EncoderConfig, StyleEncoder
from engine.models.generator import Generator, GeneratorConfig
from engine.models.harmony import HarmonyConfig, HarmonyScorer
from engine.models.layers import (
    RegionSpadeBlock,
    broadcast_styles,
    has_spectral_norm,
    one_hot,
    region_pool,
)
from engine.models.parser_net import FaceParser, ParserConfig

torch.set_num_threads(1)


def _labels(b: int, size: int, absent: tuple[int, ...] = (), seed: int = 0) -> torch.Tensor:
    """Blocky random layouts (8x8 cells) without the classes in ``absent``."""
    g = torch.Generator().manual_seed(seed)
    allowed = torch.tensor([c for c in range(NUM_CLASSES) if c not in absent])
    cells = allowed[torch.randint(0, len(allowed), (b, 8, 8), generator=g)]
    return cells.repeat_interleave(size // 8, 1).repeat_interleave(size // 8, 2)


def _image(b: int, size: int, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, 3, size, size, generator=g) * 2 - 1


@pytest.fixture(scope="module")
def nets():
    torch.manual_seed(0)
    return {
        "enc": StyleEncoder(EncoderConfig.tiny()).eval(),
        "gen": Generator(GeneratorConfig.tiny()).eval(),
        "parser": FaceParser(ParserConfig.tiny()).eval(),
        "harmony": HarmonyScorer(HarmonyConfig.tiny()).eval(),
    }


# ---------------------------------------------------------------- layers


def test_one_hot_and_errors():
    labels = _labels(2, 16)
    oh = one_hot(labels)
    assert oh.shape == (2, NUM_CLASSES, 16, 16) and oh.dtype == torch.float32
    assert torch.equal(oh.sum(1), torch.ones(2, 16, 16))
    assert torch.equal(oh.argmax(1), labels)
    with pytest.raises(ValueError, match="0..18"):
        one_hot(torch.full((1, 4, 4), 19))
    with pytest.raises(TypeError, match="integer"):
        one_hot(torch.zeros(1, 4, 4))
    with pytest.raises(ValueError, match=r"\[B,H,W\]"):
        one_hot(torch.zeros(4, 4, dtype=torch.long))


@pytest.mark.parametrize("feat_size", [32, 16, 8])
def test_region_pool_matches_per_class_loop(feat_size):
    mask = one_hot(_labels(2, 32, absent=(3, 14)))
    feats = torch.randn(2, 5, feat_size, feat_size)
    out = region_pool(feats, mask)
    assert out.shape == (2, NUM_CLASSES, 5)
    m = F.adaptive_avg_pool2d(mask, feat_size)  # area resize
    for b in range(2):
        for k in range(NUM_CLASSES):
            w = m[b, k]
            if w.sum() == 0:
                ref = torch.zeros(5)
            else:
                ref = (feats[b] * w).sum(dim=(1, 2)) / w.sum()
            torch.testing.assert_close(out[b, k], ref, atol=1e-5, rtol=1e-5)
    assert torch.equal(out[:, 3], torch.zeros(2, 5)) and torch.equal(out[:, 14], torch.zeros(2, 5))


def test_broadcast_inverts_pooling():
    mask = one_hot(_labels(2, 32, absent=(7,)))
    styles = torch.randn(2, NUM_CLASSES, 6)
    painted = broadcast_styles(styles, mask)
    assert painted.shape == (2, 6, 32, 32)
    pooled = region_pool(painted, mask)
    present = mask.sum(dim=(2, 3)) > 0
    torch.testing.assert_close(pooled[present], styles[present], atol=1e-5, rtol=1e-5)
    assert torch.equal(pooled[:, 7], torch.zeros(2, 6))
    # and the other way round: a map that is constant per region survives pool -> broadcast
    torch.testing.assert_close(broadcast_styles(pooled, mask), painted, atol=1e-5, rtol=1e-5)


def test_block_matches_upsample_then_block_reference():
    """The block's cheap path (norm + shortcut before upsampling) equals the naive order."""
    torch.manual_seed(3)
    blk = RegionSpadeBlock(6, 4, style_dim=5, cond_channels=NUM_CLASSES, hidden=4).eval()
    with torch.no_grad():
        blk.noise_scale.fill_(0.3)
        blk.blend_logit.copy_(torch.tensor([0.7, -0.4]))
    x = torch.randn(2, 6, 8, 8)
    mask = one_hot(_labels(2, 16))
    styles = torch.randn(2, NUM_CLASSES, 5)
    noise = torch.randn(2, 1, 16, 16)
    with torch.no_grad():
        out = blk(x, mask, mask, styles, noise)
        # naive reference: upsample first, every op at full size, branches blended explicitly
        xu = F.interpolate(x, scale_factor=2.0, mode="nearest")
        hid = F.relu(blk.mask_conv(mask))
        spade = blk.spade_out(hid)
        style = broadcast_styles(blk.style_out(styles), mask)
        w = blk.blend_weights()
        wv = torch.cat([w[0].expand(12), w[1].expand(8)]).view(1, -1, 1, 1)
        g0, b0, g1, b1 = torch.split(wv * style + (1 - wv) * spade, [6, 6, 4, 4], dim=1)
        h = F.instance_norm(xu) * (1 + g0) + b0
        h = blk.conv_0(F.leaky_relu(h, 0.2)) + noise * blk.noise_scale.view(1, -1, 1, 1)
        h = blk.conv_1(F.leaky_relu(F.instance_norm(h) * (1 + g1) + b1, 0.2))
        ref = blk.shortcut(xu) + h
    torch.testing.assert_close(out, ref, atol=1e-4, rtol=1e-4)


# ---------------------------------------------------------------- shapes


@pytest.mark.parametrize("size", [64, 128])
def test_output_shapes(nets, size):
    b = 2
    img, mask = _image(b, size), one_hot(_labels(b, size))
    enc, gen = nets["enc"], nets["gen"]
    s = enc.cfg.style_dim
    with torch.no_grad():
        pyr = enc.pyramid(img)
        assert [p.shape[1] for p in pyr] == list(enc.pyramid_channels)
        assert [p.shape[-1] for p in pyr] == [size // 2**i for i in range(len(pyr))]
        assert enc.features(img).shape == (b, s, size // 2, size // 2)
        styles = enc(img, mask)
        assert styles.shape == (b, NUM_CLASSES, s)
        out = gen(mask, torch.randn(b, NUM_CLASSES, gen.cfg.style_dim))
        assert out.shape == (b, 3, size, size)
        assert out.abs().max() <= 1.0
        assert nets["parser"](img).shape == (b, NUM_CLASSES, size, size)
        assert nets["harmony"](img, (mask[:, 13:14] > 0).float()).shape == (b,)


def test_default_configs_run_at_128():
    """The shipped sizes are fully convolutional and build from the defaults."""
    img, mask = _image(1, 128), one_hot(_labels(1, 128))
    with torch.inference_mode():
        styles = StyleEncoder().eval()(img, mask)
        assert styles.shape == (1, NUM_CLASSES, 64)
        assert Generator().eval()(mask, styles).shape == (1, 3, 128, 128)
        assert FaceParser().eval()(img).shape == (1, NUM_CLASSES, 128, 128)
        assert HarmonyScorer().eval()(img, mask[:, :1]).shape == (1,)


def test_parser_refinement_branch_starts_as_a_no_op_and_can_sharpen():
    """A full-resolution branch added to a trained parser keeps its output until it is trained; after
    training it can draw a one-pixel-wide class that H/2 logits cannot."""
    torch.manual_seed(0)
    plain = FaceParser(ParserConfig.tiny()).eval()
    refined = FaceParser(ParserConfig.tiny(refine_channels=4)).eval()
    missing, unexpected = refined.load_state_dict(plain.state_dict(), strict=False)
    assert not unexpected and missing and all(k.startswith(("fine.", "refine.")) for k in missing)
    img = _image(2, 32)
    with torch.no_grad():
        assert torch.equal(refined(img), plain(img))
    with pytest.raises(ValueError, match="refine_channels"):
        ParserConfig(refine_channels=-1)

    # every other column is class 1: a stripe pattern at the pixel pitch
    label = torch.zeros(1, 32, 32, dtype=torch.long)
    label[..., 1::2] = 1
    img = torch.where(label.bool(), 1.0, -1.0).unsqueeze(1).expand(1, 3, 32, 32).contiguous()

    def fit(cfg):
        torch.manual_seed(0)
        net = FaceParser(cfg)
        opt = torch.optim.Adam(net.parameters(), lr=1e-2)
        for _ in range(60):
            loss = F.cross_entropy(net(img), label)
            opt.zero_grad()
            loss.backward()
            opt.step()
        net.eval()
        with torch.no_grad():
            return (net(img).argmax(1) == label).float().mean().item()

    coarse, fine = fit(ParserConfig.tiny()), fit(ParserConfig.tiny(refine_channels=4))
    assert coarse < 0.8 and fine > 0.95, (coarse, fine)


def test_default_generator_runs_at_32_and_non_square():
    """Default generator: 32x32 (a 1x1 start, where instance norm of one pixel is 0) and 64x96."""
    gen = Generator().eval()
    with torch.inference_mode():
        for h, w in ((32, 32), (64, 96)):
            mask = one_hot(torch.randint(0, NUM_CLASSES, (1, h, w)))
            out = gen(mask, torch.randn(1, NUM_CLASSES, 64))
            assert out.shape == (1, 3, h, w) and torch.isfinite(out).all()


def test_generator_batch_norm_variant():
    torch.manual_seed(0)
    gen = Generator(GeneratorConfig.tiny(norm="batch"))
    mask = one_hot(_labels(2, 32))
    styles = torch.randn(2, NUM_CLASSES, gen.cfg.style_dim, requires_grad=True)
    gen.train()(mask, styles).mean().backward()  # batch statistics, running stats updated
    assert styles.grad.abs().sum() > 0
    assert gen.blocks[0].norm_0.num_batches_tracked == 1
    gen.eval()
    with torch.no_grad():
        assert torch.equal(gen(mask, styles), gen(mask, styles))


def test_bad_inputs_give_clear_errors(nets):
    gen, enc = nets["gen"], nets["enc"]
    mask = one_hot(_labels(1, 64))
    with pytest.raises(ValueError, match="multiple of 8"):
        gen(mask[..., :60, :60], torch.randn(1, NUM_CLASSES, gen.cfg.style_dim))
    with pytest.raises(ValueError, match="styles must have shape"):
        gen(mask, torch.randn(1, NUM_CLASSES, gen.cfg.style_dim + 1))
    with pytest.raises(ValueError, match="extra_channels=0"):
        gen(mask, torch.randn(1, NUM_CLASSES, gen.cfg.style_dim), extra=torch.zeros(1, 2, 8, 8))
    with pytest.raises(ValueError, match="one-hot"):
        enc(_image(1, 64), mask[:, :18])
    with pytest.raises(ValueError, match=r"\[B,3,H,W\]"):
        enc.pyramid(torch.zeros(1, 4, 64, 64))
    with pytest.raises(ValueError, match="multiple of"):
        nets["parser"](_image(1, 60))
    with pytest.raises(ValueError, match=r"\[B,1,H,W\]"):
        nets["harmony"](_image(1, 64), mask[:, :2])


# ---------------------------------------------------------------- encoder


def test_encoder_absent_class_is_zero(nets):
    enc = nets["enc"]
    mask = one_hot(_labels(2, 64, absent=(3, 15)))
    with torch.no_grad():
        styles = enc(_image(2, 64), mask)
    assert torch.equal(styles[:, 3], torch.zeros_like(styles[:, 3]))
    assert torch.equal(styles[:, 15], torch.zeros_like(styles[:, 15]))
    assert styles[:, 1].abs().sum() > 0
    assert torch.isfinite(styles).all()


def test_encoder_mix_is_softmax_weighted(nets):
    enc = StyleEncoder(EncoderConfig.tiny()).eval()  # eval: spectral norm stops its power iteration
    with torch.no_grad():
        enc.mix_logits.copy_(torch.tensor([0.5, -1.0, 2.0]))
    w = enc.mix_weights()
    torch.testing.assert_close(w.sum(), torch.tensor(1.0))
    assert (w > 0).all()
    torch.testing.assert_close(w, torch.softmax(enc.mix_logits, 0))
    img = _image(1, 32)
    with torch.no_grad():
        size = (16, 16)
        ref = sum(
            w[i] * F.interpolate(p(f), size=size, mode="bilinear", align_corners=False)
            if f.shape[-1] < 16
            else w[i] * F.adaptive_avg_pool2d(p(f), size)
            for i, (f, p) in enumerate(zip(enc.pyramid(img), enc.proj, strict=True))
        )
        torch.testing.assert_close(enc.features(img), ref, atol=1e-5, rtol=1e-4)


def test_encoder_convs_have_spectral_norm(nets):
    convs = [m for m in nets["enc"].modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 2 * len(nets["enc"].pyramid_channels)
    assert all(has_spectral_norm(c) for c in convs)
    assert not has_spectral_norm(torch.nn.Conv2d(3, 3, 3))


# ---------------------------------------------------------------- generator


def _noisy_tiny_generator(**cfg) -> Generator:
    torch.manual_seed(1)
    gen = Generator(GeneratorConfig.tiny(**cfg)).eval()
    with torch.no_grad():
        for blk in gen.blocks:
            blk.noise_scale.fill_(0.5)  # trained value is learned; zero-initialised
    return gen


def test_generator_noise_seed_determinism():
    gen = _noisy_tiny_generator()
    mask = one_hot(_labels(1, 64))
    styles = torch.randn(1, NUM_CLASSES, gen.cfg.style_dim)
    with torch.no_grad():
        a = gen(mask, styles, noise_seed=7)
        b = gen(mask, styles, noise_seed=7)
        c = gen(mask, styles, noise_seed=8)
        torch.manual_seed(123)
        d = gen(mask, styles, noise_seed=None)  # global RNG
    assert torch.equal(a, b)
    assert (a - c).abs().max() > 1e-3
    assert (a - d).abs().max() > 1e-3
    off = Generator(GeneratorConfig.tiny(noise=False)).eval()
    assert all(blk.noise_scale is None for blk in off.blocks)
    with torch.no_grad():
        assert torch.equal(off(mask, styles, noise_seed=1), off(mask, styles, noise_seed=2))


def test_generator_extra_map_any_size():
    torch.manual_seed(0)
    gen = Generator(GeneratorConfig.tiny(extra_channels=3)).eval()
    mask = one_hot(_labels(1, 64))
    styles = torch.randn(1, NUM_CLASSES, gen.cfg.style_dim)
    with torch.no_grad():
        none = gen(mask, styles, extra=None)
        zeros = gen(mask, styles, extra=torch.zeros(1, 3, 5, 7))
        odd = gen(mask, styles, extra=torch.randn(1, 3, 13, 21))
        big = gen(mask, styles, extra=torch.randn(1, 3, 128, 128))
    assert none.shape == odd.shape == big.shape == (1, 3, 64, 64)
    torch.testing.assert_close(none, zeros)  # extra=None means zeros
    assert (odd - none).abs().max() > 1e-4  # the SPADE branch does see the extra map
    with pytest.raises(ValueError, match="extra must have shape"):
        gen(mask, styles, extra=torch.zeros(1, 2, 8, 8))


def test_generator_styles_drive_output_and_get_gradients():
    gen = _noisy_tiny_generator()
    labels = _labels(1, 64, absent=(9,))
    labels[0, :16, :] = 13  # make sure there is hair
    mask = one_hot(labels)
    styles = torch.randn(1, NUM_CLASSES, gen.cfg.style_dim, requires_grad=True)
    out = gen(mask, styles)
    out.square().mean().backward()
    grad = styles.grad[0]
    present = mask.sum(dim=(0, 2, 3)) > 0
    assert grad[present].abs().sum(dim=1).min() > 0, "every present class's style must matter"
    assert torch.equal(grad[9], torch.zeros_like(grad[9])), "an absent class's style must not matter"
    with torch.no_grad():
        changed = styles.detach().clone()
        changed[0, 13] += 2.0  # hair
        diff = (gen(mask, changed) - out.detach()).abs().sum(1)[0]
        other = styles.detach().clone()
        other[0, 9] += 5.0
        assert torch.equal(gen(mask, other), out.detach())
    hair = labels[0] == 13
    assert diff[hair].mean() > 1e-3
    assert diff[hair].mean() > 2 * diff[~hair].mean()  # the change is mostly local


def test_generator_blend_weights_and_sizes():
    gen = Generator(GeneratorConfig.tiny())
    for blk in gen.blocks:
        w = blk.blend_weights()
        assert w.shape == (2,) and ((w > 0) & (w < 1)).all()
    cfg = GeneratorConfig()
    assert len(cfg.channels) == 5 and cfg.down_factor == 32  # starts at H/32: any multiple of 32
    n_default = sum(p.numel() for p in Generator(cfg).parameters())
    assert n_default < 5_000_000


# ---------------------------------------------------------------- configs and weights

CONFIGS = [
    EncoderConfig(),
    EncoderConfig.tiny(),
    GeneratorConfig(),
    GeneratorConfig.tiny(extra_channels=4),
    GeneratorConfig.yardstick(),
    ParserConfig(),
    ParserConfig.tiny(),
    HarmonyConfig(),
    HarmonyConfig.tiny(),
]


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: type(c).__name__)
def test_configs_round_trip_through_json(cfg):
    again = type(cfg)(**json.loads(json.dumps(asdict(cfg))))
    assert again == cfg


def test_yardstick_is_sean_sized():
    y = GeneratorConfig.yardstick()
    assert y.channels == (1024, 1024, 512, 256, 128, 64) and y.style_dim == 512
    with pytest.raises(ValueError, match="channels"):
        GeneratorConfig(channels=[])
    with pytest.raises(ValueError, match="norm"):
        GeneratorConfig(norm="layer")


def test_state_dicts_round_trip_through_safetensors(nets):
    img, mask = _image(1, 64), one_hot(_labels(1, 64))
    for name, net in nets.items():
        fresh = type(net)(net.cfg).eval()
        fresh.load_state_dict(load(save(net.state_dict())))
        with torch.no_grad():
            if name == "enc":
                a, b = net(img, mask), fresh(img, mask)
            elif name == "gen":
                s = torch.randn(1, NUM_CLASSES, net.cfg.style_dim)
                a, b = net(mask, s), fresh(mask, s)
            elif name == "parser":
                a, b = net(img), fresh(img)
            else:
                a, b = net(img, mask[:, :1]), fresh(img, mask[:, :1])
        assert torch.equal(a, b), name
