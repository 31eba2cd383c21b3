"""engine.parsing: flip averaging swaps left/right classes; facexlib backends explain what is missing."""

from __future__ import annotations

import importlib.util
import sys
import types

import numpy as np
import pytest
import torch
from torch import nn

from engine import labels
from engine.parsing import (
    FLIP_PERMUTATION,
    FacexlibParser,
    NetworkParser,
    Parser,
    ParserUnavailable,
    make_parser,
    mirror_averaged,
)

L = labels.INDEX


class HalvesNet(nn.Module):
    """Ignores the picture: labels the image's left half ``left`` and its right half ``right``.

    That is what an honest parser does with a face's left and right eye, so flip averaging must keep it.
    """

    def __init__(self, left: int, right: int, tuple_out: bool = False):
        super().__init__()
        self.left, self.right, self.tuple_out = left, right, tuple_out
        self.dummy = nn.Parameter(torch.zeros(()))

    def forward(self, x):
        b, _, h, w = x.shape
        out = torch.zeros(b, labels.NUM_CLASSES, h, w) + self.dummy
        out[:, self.left, :, : w // 2] = 5.0
        out[:, self.right, :, w // 2 :] = 5.0
        return (out, out * 0) if self.tuple_out else out


def _crop(h=32, w=32):
    return np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_flip_table_from_labels():
    perm = FLIP_PERMUTATION
    for a, b in (("l_eye", "r_eye"), ("l_brow", "r_brow"), ("l_ear", "r_ear")):
        assert perm[L[a]] == L[b] and perm[L[b]] == L[a]
    for fixed in ("background", "skin", "nose", "l_lip", "u_lip", "ear_r", "neck_l", "hair"):
        assert perm[L[fixed]] == L[fixed]  # l_lip is the lower lip, ear_r an earring: not sides
    assert sorted(perm.tolist()) == list(range(labels.NUM_CLASSES))


@pytest.mark.parametrize("pair", [("l_eye", "r_eye"), ("l_brow", "r_brow"), ("l_ear", "r_ear")])
def test_flip_average_swaps_left_and_right(pair):
    left, right = L[pair[0]], L[pair[1]]
    p = NetworkParser(HalvesNet(left, right), "cpu", flip_average=True)
    out = p.parse(_crop())
    assert out.dtype == np.uint8 and out.shape == (32, 32)
    assert (out[:, :16] == left).all() and (out[:, 16:] == right).all()
    probs = p.probabilities(_crop())
    assert torch.allclose(probs.sum(0), torch.ones(32, 32), atol=1e-5)
    # the mirrored pass, swapped back, agrees exactly with the plain pass (unswapped it would make a tie)
    single = NetworkParser(HalvesNet(left, right), "cpu", flip_average=False).probabilities(_crop())
    assert torch.allclose(probs, single, atol=1e-6)
    assert float(probs[left, :, :16].min()) > 0.85 and float(probs[right, :, :16].max()) < 0.05


def test_flip_average_matches_single_pass_for_unsided_classes():
    net = HalvesNet(L["skin"], L["hair"])
    single = NetworkParser(net, "cpu", flip_average=False).parse(_crop())
    assert (single[:, :16] == L["skin"]).all() and (single[:, 16:] == L["hair"]).all()
    both = NetworkParser(net, "cpu", flip_average=True).probabilities(_crop())
    # mirrored, unsided classes are not swapped: skin and hair share each half evenly
    assert torch.allclose(both[L["skin"]], both[L["hair"]], atol=1e-5)


def test_network_parser_resizes_and_reads_tuples():
    net = HalvesNet(L["l_eye"], L["r_eye"], tuple_out=True)
    p = NetworkParser(net, None, input_size=64)
    out = p.parse(_crop(48, 48))
    assert out.shape == (48, 48)
    assert (out[:, :20] == L["l_eye"]).all() and (out[:, 28:] == L["r_eye"]).all()
    assert isinstance(p, Parser)


def test_network_parser_rejects_bad_input_and_output():
    p = NetworkParser(HalvesNet(1, 2), "cpu")
    with pytest.raises(ValueError, match="uint8"):
        p.parse(np.zeros((32, 32, 3), np.float32))
    with pytest.raises(ValueError, match="RGB"):
        p.parse(np.zeros((32, 32), np.uint8))
    bad = NetworkParser(nn.Conv2d(3, 5, 1), "cpu")
    with pytest.raises(RuntimeError, match="19"):
        bad.parse(_crop())


# ------------------------------------------------------------------------------------------ make_parser
class _Bundle:
    device = torch.device("cpu")

    def __init__(self, nets):
        self.nets = nets

    def get(self, name):
        if name not in self.nets:
            raise KeyError(f"bundle has no {name!r} network (needed for parsing photos into regions)")
        return self.nets[name]


def test_make_parser_bundle():
    p = make_parser("bundle", bundle=_Bundle({"parser": HalvesNet(L["l_brow"], L["r_brow"])}))
    assert isinstance(p, NetworkParser) and p.flip_average
    out = p.parse(_crop())
    assert (out[:, :16] == L["l_brow"]).all() and (out[:, 16:] == L["r_brow"]).all()
    with pytest.raises(ParserUnavailable, match="parser"):
        make_parser("bundle", bundle=_Bundle({}))
    with pytest.raises(ParserUnavailable, match="no model bundle"):
        make_parser("bundle")
    with pytest.raises(ValueError, match="unknown parser"):
        make_parser("segformer")


@pytest.mark.skipif(importlib.util.find_spec("facexlib") is not None, reason="facexlib is installed")
@pytest.mark.parametrize("kind", ["bisenet", "parsenet"])
def test_facexlib_missing_gives_install_hint(kind, tmp_path):
    with pytest.raises(ParserUnavailable, match=r"pip install 'facepaint\[facexlib\]'"):
        make_parser(kind, weights=tmp_path / "w.pth")


# --------------------------------------------------------------------- facexlib backend (fake package)
class _FakeBiSeNet(nn.Module):
    """facexlib-shaped: BiSeNet(num_class=19) returning (out, out16, out32); predicts BiSeNet's 'hair'."""

    def __init__(self, num_class=19):
        super().__init__()
        self.conv = nn.Conv2d(3, num_class, 1)
        with torch.no_grad():
            self.conv.weight.zero_()
            self.conv.bias.zero_()
            self.conv.bias[labels.BISENET_NAMES.index("hair")] = 4.0
            self.conv.bias[labels.BISENET_NAMES.index("neck")] = 2.0

    def forward(self, x):
        assert x.shape[-1] == 512  # facexlib parsers run at 512²
        out = self.conv(x)
        return out, out, out


class _FakeParseNet(nn.Module):
    def __init__(self, in_size=512, out_size=512, parsing_ch=19):
        super().__init__()
        self.conv = nn.Conv2d(3, parsing_ch, 1)
        with torch.no_grad():
            self.conv.weight.zero_()
            self.conv.bias.zero_()
            self.conv.bias[13] = 4.0  # CelebAMask-HQ order: 13 = hair

    def forward(self, x):
        return self.conv(x), x


@pytest.fixture
def fake_facexlib(monkeypatch):
    pkg = types.ModuleType("facexlib")
    parsing = types.ModuleType("facexlib.parsing")
    bisenet = types.ModuleType("facexlib.parsing.bisenet")
    parsenet = types.ModuleType("facexlib.parsing.parsenet")
    bisenet.BiSeNet = _FakeBiSeNet
    parsenet.ParseNet = _FakeParseNet
    for name, mod in [
        ("facexlib", pkg),
        ("facexlib.parsing", parsing),
        ("facexlib.parsing.bisenet", bisenet),
        ("facexlib.parsing.parsenet", parsenet),
    ]:
        monkeypatch.setitem(sys.modules, name, mod)


def test_facexlib_missing_weights_names_the_file(fake_facexlib, tmp_path, monkeypatch):
    monkeypatch.setenv("FACEPAINT_WEIGHTS", str(tmp_path / "weights"))
    with pytest.raises(ParserUnavailable) as ei:
        make_parser("bisenet")
    msg = str(ei.value)
    assert "parsing_bisenet.pth" in msg and str(tmp_path / "weights") in msg and "releases" in msg
    with pytest.raises(ParserUnavailable, match="parsing_parsenet.pth"):
        make_parser("parsenet", weights=tmp_path)


def test_facexlib_bisenet_is_remapped(fake_facexlib, tmp_path):
    w = tmp_path / "parsing_bisenet.pth"
    torch.save({"module." + k: v for k, v in _FakeBiSeNet().state_dict().items()}, w)
    p = make_parser("bisenet", weights=w, device="cpu")
    assert isinstance(p, FacexlibParser) and p.kind == "bisenet"
    out = p.parse(_crop(64, 64))
    assert out.shape == (64, 64) and (out == L["hair"]).all()  # BiSeNet id 17 -> our 13
    probs = p.probabilities(_crop(64, 64))
    assert float(probs[L["neck"]].mean()) > float(probs[L["skin"]].mean())  # second-best class follows


def test_facexlib_parsenet_uses_our_order(fake_facexlib, tmp_path):
    torch.save(_FakeParseNet().state_dict(), tmp_path / "parsing_parsenet.pth")
    out = make_parser("parsenet", weights=tmp_path).parse(_crop(40, 40))
    assert (out == L["hair"]).all()


class _NotATensor:
    pass


def test_facexlib_refuses_pickled_objects(fake_facexlib, tmp_path):
    w = tmp_path / "parsing_bisenet.pth"
    torch.save({"conv.weight": _NotATensor()}, w)
    with pytest.raises(ParserUnavailable, match="cannot load bisenet weights"):
        make_parser("bisenet", weights=w)
    torch.save({"other.weight": torch.zeros(1)}, w)
    with pytest.raises(ParserUnavailable, match="cannot load"):
        make_parser("bisenet", weights=w)


def test_mirror_averaged_pairs_each_image_with_its_own_mirror():
    torch.manual_seed(0)
    net = nn.Conv2d(3, labels.NUM_CLASSES, 3, padding=1)
    x = torch.randn(3, 3, 16, 16)
    with torch.no_grad():
        batch = mirror_averaged(net, x)
        for i in range(3):
            assert torch.allclose(batch[i], mirror_averaged(net, x[i : i + 1])[0], atol=1e-6)
        # a mirror-symmetric image gets mirror-symmetric probabilities, with left and right swapped
        sym = torch.cat([x[:1, :, :, :8], x[:1, :, :, :8].flip(-1)], -1)
        p = mirror_averaged(net, sym)[0]
        assert torch.allclose(p, p.flip(-1)[torch.as_tensor(FLIP_PERMUTATION)], atol=1e-6)


class _SidedBiSeNet(nn.Module):
    """facexlib-shaped BiSeNet that calls the image's right half its 'l_eye' and the left half 'r_eye',
    as BiSeNet trained on CelebAMask-HQ does (the subject's left eye is on the image's right)."""

    def __init__(self, num_class=19):
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(4.0))

    def forward(self, x):
        b, _, h, w = x.shape
        xs = torch.linspace(-1, 1, w).view(1, 1, 1, w).expand(b, 1, h, w) * self.scale
        out = torch.zeros(b, 19, h, w)
        out[:, labels.BISENET_NAMES.index("l_eye")] = xs[:, 0]
        out[:, labels.BISENET_NAMES.index("r_eye")] = -xs[:, 0]
        return out, out, out


def test_facexlib_masks_follow_our_left_and_right(fake_facexlib, tmp_path):
    sys.modules["facexlib.parsing.bisenet"].BiSeNet = _SidedBiSeNet
    w = tmp_path / "parsing_bisenet.pth"
    torch.save(_SidedBiSeNet().state_dict(), w)
    out = make_parser("bisenet", weights=w, device="cpu").parse(_crop(64, 64))  # flip-averaged
    xs = np.nonzero(out == L["l_eye"])[1]
    assert xs.size and xs.min() >= 32 and (out[:, :32] == L["r_eye"]).all()
    assert labels.mirrored_convention(out) is False


class DiscNet(nn.Module):
    """Labels a disc of fixed radius (in the network's pixels) about the centre class 1, the rest 0:
    a part whose size the network judges in its own pixels, as a parser does with a small eye."""

    def __init__(self, radius: float):
        super().__init__()
        self.radius = radius
        self.dummy = nn.Parameter(torch.zeros(()))

    def forward(self, x):
        b, _, h, w = x.shape
        yy, xx = torch.meshgrid(torch.arange(h) - (h - 1) / 2, torch.arange(w) - (w - 1) / 2, indexing="ij")
        inside = (yy**2 + xx**2).sqrt() <= self.radius
        out = torch.zeros(b, labels.NUM_CLASSES, h, w) + self.dummy
        out[:, 1][:, inside] = 30.0
        out[:, 0][:, ~inside] = 30.0
        return out


def test_zoom_views_are_brought_back_to_the_crops_frame():
    from engine.parsing import zoom_averaged

    x = torch.zeros(1, 3, 64, 64)
    one = zoom_averaged(DiscNet(12.0), x, (1.0,), flip=False)
    assert torch.allclose(one.sum(1), torch.ones(1, 64, 64))
    # a 2x view sees the disc at half its size in the crop's frame; averaged with the plain view, the
    # ring between radius 6 and 12 is half and half, and outside the 2x view's sight only the plain
    # view counts (its probabilities there are not diluted)
    both = zoom_averaged(DiscNet(12.0), x, (1.0, 2.0), flip=False)
    assert torch.allclose(both.sum(1), torch.ones(1, 64, 64), atol=1e-4)
    c = 31.5
    assert both[0, 1, int(c), int(c)] > 0.99  # inside both discs
    assert 0.4 < both[0, 1, int(c), int(c + 9)] < 0.6  # in the plain view's disc only
    assert both[0, 0, 2, 2] > 0.99 and torch.allclose(both[0, :, 2, 2], one[0, :, 2, 2], atol=1e-4)


def test_the_bundle_parser_reads_a_zoomed_view_too():
    from engine.parsing import BUNDLE_ZOOMS

    assert len(BUNDLE_ZOOMS) > 1 and BUNDLE_ZOOMS[0] == 1.0
    p = NetworkParser(DiscNet(12.0), "cpu", flip_average=True, zooms=BUNDLE_ZOOMS).probabilities(_crop(64, 64))
    plain = NetworkParser(DiscNet(12.0), "cpu", flip_average=True).probabilities(_crop(64, 64))
    ring = (12.0 / BUNDLE_ZOOMS[1] + 12.0) / 2  # inside the plain view's disc, outside the enlarged view's
    x = round(31.5 + ring)
    assert plain[1, 32, x] > 0.99
    assert 0.4 < p[1, 32, x] < 0.6
    with pytest.raises(ValueError, match="zooms"):
        NetworkParser(DiscNet(6.0), "cpu", zooms=(5.0,))
