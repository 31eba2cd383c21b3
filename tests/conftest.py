"""Shared fixtures: a tiny bundle with random weights, built once per test session."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "2")


def build_tiny_nets(resolution: int = 64, seed: int = 0) -> dict:
    import torch

    from engine.models.encoder import EncoderConfig, StyleEncoder
    from engine.models.flow import FlowConfig, StyleFlow
    from engine.models.generator import Generator, GeneratorConfig
    from engine.models.harmony import HarmonyConfig, HarmonyScorer
    from engine.models.mapping import RSMBank, RSMConfig
    from engine.models.mrsa import MRSA, MRSAConfig
    from engine.models.msca import MSCA, MSCAConfig
    from engine.models.parser_net import FaceParser, ParserConfig

    torch.manual_seed(seed)
    enc = StyleEncoder(EncoderConfig.tiny())
    S = enc.cfg.style_dim
    gcfg = GeneratorConfig.tiny()
    gcfg = type(gcfg)(**{**gcfg.__dict__, "style_dim": S})
    msca_cfg = MSCAConfig.tiny() if hasattr(MSCAConfig, "tiny") else MSCAConfig()
    msca_cfg = type(msca_cfg)(**{**msca_cfg.__dict__, "feat_channels": tuple(enc.pyramid_channels)})
    msca = MSCA(msca_cfg)
    gm_cfg = type(gcfg)(**{**gcfg.__dict__, "extra_channels": msca_cfg.out_channels})
    return {
        "encoder": enc,
        "generator": Generator(gcfg),
        "mrsa": MRSA(MRSAConfig(style_dim=S, attn_dim=16)),
        "msca": msca,
        "generator_msca": Generator(gm_cfg),
        "rsm": RSMBank(RSMConfig(style_dim=S, z_dim=8, hidden=16, layers=2)),
        "flow": StyleFlow(FlowConfig(style_dim=S, hidden=16, class_embed=4)),
        "parser": FaceParser(ParserConfig.tiny()),
        "harmony": HarmonyScorer(HarmonyConfig.tiny()),
    }


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory):
    """Path of a tiny bundle (random weights, 64² resolution) with every network."""
    from engine.bundle import save_bundle

    path = tmp_path_factory.mktemp("bundle") / "tiny"
    save_bundle(path, build_tiny_nets(), resolution=64, extra_meta={"training": {"note": "random tiny test weights"}})
    return path
