"""Style-space networks: MRSA, MSCA, RSM (mapping) and the CNF (flow). Tiny sizes, CPU, fast."""

from __future__ import annotations

import json
import time
from dataclasses import asdict

import pytest
import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode

from engine.labels import INDEX, NUM_CLASSES, RSM_GROUPS
from engine.models.flow import FlowConfig, StyleFlow
from engine.models.mapping import (
    RSMBank,
    RSMConfig,
    StyleDiscriminator,
    StyleDiscriminatorConfig,
)
from engine.models.mrsa import MRSA, MRSAConfig, compose_reference
from engine.models.msca import MSCA, MSCABlock, MSCAConfig

C = NUM_CLASSES


def _onehot(labels: torch.Tensor) -> torch.Tensor:
    return F.one_hot(labels, C).permute(0, 3, 1, 2).float()


def _randomise(module: torch.nn.Module, std: float = 0.3) -> None:
    """Replace the zero-initialised layers (identity at init) with random weights."""
    gen = torch.Generator().manual_seed(123)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * std)


@pytest.mark.parametrize("cls", [MRSAConfig, MSCAConfig, RSMConfig, FlowConfig, StyleDiscriminatorConfig])
def test_configs_round_trip_json(cls):
    cfg = cls()
    assert cls(**json.loads(json.dumps(asdict(cfg)))) == cfg


# ---------------------------------------------------------------------------------------------- MRSA
@pytest.fixture(params=[0, 12], ids=["linear", "ffn"])
def mrsa(request):
    torch.manual_seed(0)
    net = MRSA(MRSAConfig(style_dim=8, attn_dim=6, ffn_dim=request.param))
    _randomise(net)
    return net.eval()


def test_compose_reference_picks_rows():
    s_t = torch.randn(2, C, 4)
    s_r = torch.randn(2, C, 4)
    edited = torch.zeros(2, C, dtype=torch.bool)
    edited[0, [1, 13]] = True
    edited[1, 4] = True
    out = compose_reference(s_t, s_r, edited)
    for b in range(2):
        for c in range(C):
            want = s_r[b, c] if edited[b, c] else s_t[b, c]
            assert torch.equal(out[b, c], want)
    with pytest.raises(ValueError, match="bool"):
        compose_reference(s_t, s_r, edited.float())


def test_mrsa_alpha_zero_is_identity_and_rows_sum_to_one(mrsa):
    s_t, s_r = torch.randn(3, C, 8), torch.randn(3, C, 8)
    out, m = mrsa(s_t, s_r, alpha=0.0, return_attention=True)
    assert torch.equal(out, s_r)
    assert m.shape == (3, C, C)
    assert torch.allclose(m.sum(-1), torch.ones(3, C), atol=1e-6)
    assert (m >= 0).all()


def test_mrsa_alpha_scales_linearly(mrsa):
    s_t, s_r = torch.randn(2, C, 8), torch.randn(2, C, 8)
    c1 = mrsa(s_t, s_r, alpha=1.0) - s_r
    assert c1.abs().max() > 1e-3  # a real correction
    assert torch.allclose(mrsa(s_t, s_r, alpha=0.5) - s_r, 0.5 * c1, atol=1e-5)
    assert torch.allclose(mrsa(s_t, s_r, alpha=2.0) - s_r, 2.0 * c1, atol=1e-5)
    per_sample = mrsa(s_t, s_r, alpha=torch.tensor([0.0, 3.0]))
    assert torch.equal(per_sample[0], s_r[0])
    assert torch.allclose(per_sample[1] - s_r[1], 3.0 * c1[1], atol=1e-5)


@pytest.mark.parametrize("ffn_dim", [0, 12])
def test_mrsa_untrained_is_identity(ffn_dim):
    net = MRSA(MRSAConfig(style_dim=8, attn_dim=6, ffn_dim=ffn_dim))
    s_t, s_r = torch.randn(1, C, 8), torch.randn(1, C, 8)
    assert torch.equal(net(s_t, s_r), s_r)


def test_mrsa_ffn_learns_a_row_dependent_correction():
    """Target: halve every row of s'_r. The paper's form adds a term that does not depend on the
    row's own value, so it cannot; the feed-forward form can."""
    torch.manual_seed(0)
    errs = {}
    for ffn_dim in (0, 32):
        net = MRSA(MRSAConfig(style_dim=4, attn_dim=8, ffn_dim=ffn_dim))
        opt = torch.optim.Adam(net.parameters(), lr=1e-2)
        gen = torch.Generator().manual_seed(1)
        for _ in range(300):
            s_t, s_r = torch.randn(16, C, 4, generator=gen), torch.randn(16, C, 4, generator=gen)
            loss = (net(s_t, s_r) - 0.5 * s_r).pow(2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            s_t, s_r = torch.randn(64, C, 4, generator=gen), torch.randn(64, C, 4, generator=gen)
            errs[ffn_dim] = float((net(s_t, s_r) - 0.5 * s_r).pow(2).mean())
    assert errs[32] < 0.3 * errs[0], errs


def test_mrsa_config_rejects_negative_ffn():
    with pytest.raises(ValueError, match="ffn_dim"):
        MRSAConfig(ffn_dim=-1)


def test_mrsa_present_masks_absent_keys(mrsa):
    s_t, s_r = torch.randn(2, C, 8), torch.randn(2, C, 8)
    present = torch.zeros(2, C, dtype=torch.bool)
    present[0, [0, 1, 13]] = True  # sample 1: nothing present -> falls back to every class
    _, m = mrsa(s_t, s_r, return_attention=True, present=present)
    assert torch.isfinite(m).all()
    assert torch.allclose(m.sum(-1), torch.ones(2, C), atol=1e-6)
    assert m[0][:, ~present[0]].abs().max() == 0
    assert (m[1] > 0).all()


# ---------------------------------------------------------------------------------------------- MSCA
def test_msca_block_uniform_attention_is_global_average_pool():
    torch.manual_seed(0)
    block = MSCABlock(feat_channels=5, label_channels=3, k=1, use_gate=False)
    with torch.no_grad():
        block.spatial.weight.zero_()
        block.spatial.bias.zero_()
    f_x2 = torch.randn(2, 5, 7, 9)
    f_c2 = torch.randn(2, 3, 7, 9)
    f_c1 = torch.randn(2, 3, 4, 6)  # target at another size: nothing assumes aligned layouts
    out = block(f_x2, f_c2, f_c1)
    want = f_x2.mean(dim=(2, 3), keepdim=True).expand(2, 5, 4, 6)
    assert out.shape == (2, 5, 4, 6)
    assert torch.allclose(out, want, atol=1e-6)


def test_msca_block_gate_changes_output():
    torch.manual_seed(0)
    block = MSCABlock(feat_channels=4, label_channels=3, k=2, use_gate=True)
    args = (torch.randn(1, 4, 5, 5), torch.randn(1, 3, 5, 5), torch.randn(1, 3, 3, 3))
    gated = block(*args)
    block.use_gate = False
    assert not torch.allclose(gated, block(*args))


def _tiny_msca():
    return MSCA(MSCAConfig(feat_channels=(4, 6, 8), label_channels=5, k=(2, 3, 3), out_channels=7))


def _pyramid(b, h, w, channels=(4, 6, 8)):
    # Fine to coarse, like an encoder: H/2, H/4, H/8.
    return [torch.randn(b, c, h // 2 ** (i + 1), w // 2 ** (i + 1)) for i, c in enumerate(channels)]


def test_msca_output_shape_with_exemplar_of_another_size():
    torch.manual_seed(0)
    net = _tiny_msca().eval()
    target = _onehot(torch.randint(0, C, (2, 32, 48)))
    exemplar = _onehot(torch.randint(0, C, (2, 64, 40)))
    out = net(target, _pyramid(2, 64, 40), exemplar)
    assert out.shape == (2, 7, 16, 24)  # target size at the finest level's scale (1/2)
    assert torch.isfinite(out).all()
    with pytest.raises(ValueError, match="levels"):
        net(target, _pyramid(2, 64, 40)[:2], exemplar)


class _RecordShapes(TorchDispatchMode):
    """Records the shape of every tensor any aten op produces."""

    def __init__(self):
        super().__init__()
        self.shapes: list[tuple[int, ...]] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(t, torch.Tensor):
                self.shapes.append(tuple(t.shape))
        return out


def test_msca_is_linear_in_pixels_never_hw_by_hw():
    torch.manual_seed(0)
    net = _tiny_msca().eval()
    target = _onehot(torch.randint(0, C, (1, 128, 128)))
    exemplar = _onehot(torch.randint(0, C, (1, 128, 128)))
    pyr = _pyramid(1, 128, 128)  # levels of 64x64, 32x32 and 16x16 pixels
    with torch.no_grad():
        with _RecordShapes() as rec:
            out = net(target, pyr, exemplar)
        t0 = time.perf_counter()
        net(target, pyr, exemplar)
        elapsed = time.perf_counter() - t0
    assert out.shape == (1, 7, 64, 64)
    assert rec.shapes
    # A pixel-to-pixel affinity at any level would have two axes of at least 16*16 = 256 entries;
    # spatial axes here are at most 64 and flattened pixel axes meet only K or channel axes.
    for shape in rec.shapes:
        assert sum(d >= 256 for d in shape) <= 1, shape
    assert max(torch.Size(s).numel() for s in rec.shapes) <= 64 * 64 * 64
    assert elapsed < 2.0
    _, alpha, beta = net.blocks[0](pyr[0], torch.randn(1, 5, 64, 64), torch.randn(1, 5, 32, 48), True)
    assert alpha.shape == (1, 2, 64 * 64) and beta.shape == (1, 2, 32 * 48)


# ---------------------------------------------------------------------------------------------- RSM
def test_every_class_in_exactly_one_group():
    seen = [c for cs in RSM_GROUPS.values() for c in cs]
    assert sorted(seen) == list(range(C))


def test_rsm_forward_shapes_and_sample_determinism():
    torch.manual_seed(0)
    bank = RSMBank(RSMConfig(style_dim=8, z_dim=4, hidden=16))
    for group, classes in RSM_GROUPS.items():
        assert bank(torch.randn(3, 4), group).shape == (3, len(classes), 8)
    a = bank.sample(13, seed=7)
    assert a.shape == (8,)
    assert torch.equal(a, bank.sample(13, seed=7))
    assert not torch.allclose(a, bank.sample(13, seed=8))
    # Both eyes of one draw come from the same group sample.
    eyes = bank.sample_group("eyes", seed=3)
    assert torch.equal(bank.sample(4, seed=3), eyes[0]) and torch.equal(bank.sample(5, seed=3), eyes[1])
    with pytest.raises(ValueError, match="group"):
        bank(torch.randn(1, 4), "beard")
    with pytest.raises(ValueError, match="class_id"):
        bank.sample(19, seed=0)
    # skin, nose, ears and neck are one draw: one skin tone
    skin = bank.sample_group("skin", seed=5)
    for row, c in enumerate(bank.classes_of("skin")):
        assert torch.equal(bank.sample(c, seed=5), skin[row])
    assert set(bank.classes_of("skin")) == {INDEX[n] for n in ("skin", "nose", "l_ear", "r_ear", "neck")}


def test_rsm_groups_are_part_of_the_config_and_legacy_banks_load(tmp_path):

    from engine.bundle import load_bundle, save_bundle
    from engine.labels import LEGACY_RSM_GROUPS

    assert RSMConfig().groups == RSM_GROUPS
    again = RSMConfig(**json.loads(json.dumps(asdict(RSMConfig()))))
    assert again == RSMConfig()  # JSON lists come back as tuples
    for bad in (
        {},
        {"skin": []},
        {"a": (1,), "b": (1,)},
        {"skin": (19,)},
        {"skin": "x"},
        {"not a name": (1,)},
    ):
        with pytest.raises(ValueError, match="groups"):
            RSMConfig(groups=bad)
    # a bank saved before its config held the groups: the loader gives it the groups of that time
    torch.manual_seed(0)
    old = RSMBank(RSMConfig(style_dim=8, z_dim=4, hidden=16, groups=LEGACY_RSM_GROUPS))
    save_bundle(tmp_path / "b", {"rsm": old}, resolution=64)
    spec = json.loads((tmp_path / "b" / "rsm.json").read_text())
    del spec["config"]["groups"]
    (tmp_path / "b" / "rsm.json").write_text(json.dumps(spec))
    bank = load_bundle(tmp_path / "b", device="cpu").get("rsm")
    assert bank.cfg.groups == LEGACY_RSM_GROUPS and bank.classes_of("neck") == (INDEX["neck"],)
    assert torch.equal(bank.sample(INDEX["neck"], seed=2), old.sample(INDEX["neck"], seed=2))


def test_style_discriminator_scores_a_group():
    d = StyleDiscriminator(StyleDiscriminatorConfig(group="mouth", style_dim=8, hidden=16))
    styles = torch.randn(5, 3, 8, requires_grad=True)
    logits = d(styles)
    assert logits.shape == (5,)
    logits.sum().backward()
    assert styles.grad is not None and styles.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="styles"):
        d(torch.randn(5, 2, 8))


# ---------------------------------------------------------------------------------------------- CNF
@pytest.fixture
def flow():
    torch.manual_seed(0)
    f = StyleFlow(FlowConfig(style_dim=8, hidden=32, class_embed=4))
    gen = torch.Generator().manual_seed(1)
    last = f.func.linears[-1]
    with torch.no_grad():  # the last layer starts at zero (identity flow): make the dynamics real
        last.weight.copy_(torch.randn(last.weight.shape, generator=gen) * 0.3)
        last.bias.copy_(torch.randn(last.bias.shape, generator=gen) * 0.3)
    f.set_normalisation(torch.randn(C, 8, generator=gen), torch.rand(C, 8, generator=gen) + 0.5)
    return f


def _styles(n=12):
    gen = torch.Generator().manual_seed(5)
    return torch.randn(n, 8, generator=gen) * 2 + 1, torch.randint(0, C, (n,), generator=gen)


@pytest.mark.parametrize(
    "solver", [{"method": "rk4", "steps": 8}, {"method": "euler", "steps": 64}, {"method": "dopri5"}]
)
def test_flow_round_trip(flow, solver):
    s, c = _styles()
    with torch.inference_mode():
        z = flow.to_z(s, c, **solver)
        back = flow.from_z(z, c, **solver)
    x = (s - flow.mean[c]) / flow.std[c]
    assert (z - x).abs().max() > 0.1  # the flow actually moves the styles
    tol = 2e-2 if solver["method"] == "euler" else 1e-3
    assert (back - s).abs().max() < tol


def test_flow_adjoint_round_trip_and_gradients(flow):
    s, c = _styles(6)
    z = flow.to_z(s, c, adjoint=True)
    back = flow.from_z(z, c, adjoint=True)
    assert (back - s).abs().max() < 1e-3
    # Gradients of to_z through the adjoint agree with backprop through the solver.
    w = flow.func.linears[0].weight
    (g_adj,) = torch.autograd.grad(flow.to_z(s, c, adjoint=True).pow(2).sum(), w)
    (g_bp,) = torch.autograd.grad(flow.to_z(s, c).pow(2).sum(), w)
    assert g_bp.abs().max() > 1e-4
    assert torch.allclose(g_adj, g_bp, rtol=1e-2, atol=1e-4)


def test_flow_untrained_is_identity_map():
    f = StyleFlow(FlowConfig(style_dim=8, hidden=16, class_embed=4))
    s, c = _styles(4)
    with torch.inference_mode():
        assert torch.allclose(f.to_z(s, c), s)


def test_flow_log_prob_exact_is_finite_and_differentiable(flow):
    s, c = _styles(4)
    lp = flow.log_prob(s, c, exact_trace=True)
    assert lp.shape == (4,) and torch.isfinite(lp).all()
    (-lp.mean()).backward()
    grads = [p.grad for p in flow.func.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert sum(g.abs().sum() for g in grads) > 0
    with torch.inference_mode(), pytest.raises(RuntimeError, match="inference_mode"):
        flow.log_prob(s, c)


def test_flow_log_prob_identity_flow_matches_gaussian():
    # With zero dynamics and unit statistics the density is exactly standard normal.
    f = StyleFlow(FlowConfig(style_dim=8, hidden=16, class_embed=4))
    s, c = _styles(5)
    want = torch.distributions.Normal(0.0, 1.0).log_prob(s).sum(1)
    assert torch.allclose(f.log_prob(s, c, exact_trace=True), want, atol=1e-5)
    f.set_normalisation(torch.zeros(C, 8), torch.full((C, 8), 2.0))
    want = torch.distributions.Normal(0.0, 2.0).log_prob(s).sum(1)
    assert torch.allclose(f.log_prob(s, c, exact_trace=True), want, atol=1e-5)


def test_flow_hutchinson_agrees_with_exact_trace_on_average(flow):
    s, c = _styles(2)
    n = 400
    x = s.repeat_interleave(n, 0)
    cc = c.repeat_interleave(n, 0)
    with torch.no_grad():
        exact = flow.log_prob(s, c, exact_trace=True)
        est = flow.log_prob(x, cc, generator=torch.Generator().manual_seed(0)).view(2, n)
    se = est.std(dim=1) / n**0.5
    assert est.std(dim=1).min() > 0  # the estimate really is stochastic
    assert ((est.mean(dim=1) - exact).abs() < 4 * se + 1e-3).all()


def test_flow_rejects_bad_input(flow):
    with pytest.raises(ValueError, match="class_ids"):
        flow.to_z(torch.randn(3, 8), torch.tensor([0, 1, 19]))
    with pytest.raises(ValueError, match="method"):
        flow.to_z(torch.randn(3, 8), torch.tensor([0, 1, 2]), method="leapfrog")
    with pytest.raises(ValueError, match="std"):
        flow.set_normalisation(torch.zeros(C, 8), torch.zeros(C, 8))
