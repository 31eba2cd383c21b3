"""`facepaint-train bundle --tiny` end to end: every stage, export, engine load, evaluation, model card."""

from __future__ import annotations

import json

import pytest
import torch

from engine.bundle import load_bundle
from training.cli import main

ALL_NETS = {"encoder", "generator", "mrsa", "msca", "generator_msca", "rsm", "flow", "parser", "harmony"}
REPORT_KEYS = {
    "recon_psnr",
    "recon_ssim",
    "mask_consistency",
    "harmony_error",
    "parser_miou",
    "rsm_mcsd",
    "rsm_mocd",
    "harmony_score",
}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("bundle") / "tiny"
    assert main(["bundle", "--out", str(out), "--tiny", "--budget-minutes", "2", "--device", "cpu"]) == 0
    return out


def test_tiny_bundle_loads_in_the_engine(built):
    bundle = load_bundle(built, device="cpu")
    assert set(bundle.nets) == ALL_NETS
    assert bundle.resolution == 64
    training = bundle.meta["training"]
    assert [s["run"] for s in training["stages"]] == [
        "parser",
        "generator",
        "mrsa",
        "generator_msca",
        "rsm",
        "flow",
        "harmony",
    ]
    assert all(s["steps"] == 3 for s in training["stages"])
    # The generator pair shares the encoder's style width; MSCA reads the encoder's pyramid.
    enc = bundle.get("encoder")
    assert bundle.get("generator_msca").cfg.style_dim == enc.cfg.style_dim
    assert tuple(bundle.get("msca").cfg.feat_channels) == tuple(enc.pyramid_channels)


def test_evaluation_and_model_card(built):
    report = json.loads((built / "evaluation.json").read_text())
    assert REPORT_KEYS <= set(report)
    assert set(report["harmony_error"]) == {"off", "mrsa", "msca"}
    for key in REPORT_KEYS - {"harmony_error"}:
        assert isinstance(report[key], float), key
    assert all(isinstance(v, float) and v >= 0 for v in report["harmony_error"].values())
    assert 0 <= report["parser_miou"] <= 1 and 0 <= report["harmony_score"] <= 1
    assert 0 <= report["parser_miou_flip"] <= 1 and isinstance(report["recon_psnr_msca"], float)
    regions = report["recon_error_by_region"]
    assert "background" in regions and sum(r["share"] for r in regions.values()) == pytest.approx(1.0)
    for name in ("reconstruction", "transfer", "parser", "rsm"):
        assert (built / "evaluation" / f"{name}.png").is_file()
    reshape = report["reshape"]
    assert reshape["faces"] > 0 and set(reshape["mean"]) == {"raw", "changed", "moved"}
    for row in reshape["mean"].values():
        assert row["psnr"] > 5 and -1 <= row["detail_corr"] <= 1 and row["detail_ratio"] >= 0
    card = (built / "MODEL_CARD.md").read_text()
    assert "facepaint-train bundle --out" in card and "--tiny" in card
    assert "| generator_msca | generator_msca, msca | 3 |" in card
    assert "reconstruction PSNR" in card and f"{report['recon_psnr']:.4g}" in card


def test_region_errors_find_where_the_error_is():
    from training.evaluate import _faces, _region_errors

    faces = _faces([5], 64, torch.device("cpu"))
    hair = (faces.label == 13).unsqueeze(1)
    assert hair.any()
    y = faces.image + 0.2 * hair  # 0.2 on [-1, 1] is 25.5 on 0-255, in every channel
    errs = _region_errors(y, faces)
    assert errs["hair"]["rmse"] == pytest.approx(25.5, rel=1e-4)
    assert errs["hair"]["share"] == pytest.approx(1.0) and errs["skin"]["rmse"] == 0.0


def test_goal_rows_read_the_report():
    from training.model_card import goal_rows

    report = {
        "recon_psnr": 30.5,
        "mask_consistency": 0.97,
        "parser_miou": None,
        "rsm_mcsd": 0.04,
        "rsm_mocd": 0.06,
        "harmony_error": {"off": 20.0, "mrsa": 13.0, "msca": 18.0},
    }
    rows = {label: (v, met) for label, v, _, met in goal_rows(report)}
    assert rows["reconstruction PSNR"] == (30.5, True)
    assert rows["mask consistency"] == (0.97, False)
    assert rows["MRSA transfer error / no harmoniser"] == (pytest.approx(0.65), True)
    assert rows["parser mIoU"] == (None, None)
    assert rows["RSM mCSD"] == (0.04, True) and rows["RSM mOCD"] == (0.06, False)
    assert goal_rows({})[2][1:] == (None, "<= 0.7", None)


def test_evaluate_command_writes_report(built, tmp_path, capsys):
    out = tmp_path / "report"
    args = ["evaluate", "--bundle", str(built), "--out", str(out), "--samples", "2", "--pairs", "1"]
    assert main(args + ["--rsm-faces", "1", "--rsm-draws", "2", "--device", "cpu"]) == 0
    report = json.loads((out / "evaluation.json").read_text())
    assert REPORT_KEYS <= set(report) and report["meta"]["samples"] == 2
    printed = json.loads(capsys.readouterr().out)
    assert printed["recon_psnr"] == report["recon_psnr"]


def test_cli_errors_are_clear(capsys, tmp_path):
    assert main(["genrator"]) == 2
    assert "did you mean generator?" in capsys.readouterr().err
    assert main(["parser", "--stepz", "3"]) == 2
    assert "unknown option --stepz; did you mean --steps?" in capsys.readouterr().err
    assert main(["generator", "--variant", "xyz"]) == 2
    assert "--variant must be one of mrsa, msca" in capsys.readouterr().err
    assert main(["rsm", "--out", str(tmp_path), "--tiny", "--steps", "1", "--device", "cpu"]) == 2
    assert "--encoder-from" in capsys.readouterr().err
    assert main(["evaluate"]) == 2
    assert "--bundle DIR is required" in capsys.readouterr().err
    assert main(["bundle", "--budget-minutes", "-1"]) == 2
    assert main(["generator", "--help"]) == 0
    assert "--gan-weight" in capsys.readouterr().out


def test_stage_command_trains(tmp_path, capsys):
    args = ["harmony", "--out", str(tmp_path), "--tiny", "--size", "64", "--steps", "2", "--batch-size", "2"]
    assert main(args + ["--device", "cpu", "--threads", "1", "--no-progress", "--no-tensorboard"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["stage"] == "harmony" and summary["steps"] == 2
    assert load_bundle(tmp_path / "nets", device="cpu").has("harmony")


def test_render_then_train_on_a_folder(tmp_path, capsys):
    data = tmp_path / "faces"
    assert main(["render", "--count", "3", "--size", "64", "--out", str(data), "--no-progress"]) == 0
    assert len(list((data / "images").glob("*.png"))) == 3
    args = ["parser", "--data", f"folder:{data}", "--out", str(tmp_path / "run"), "--tiny", "--size", "64"]
    args += ["--steps", "4", "--batch-size", "2", "--device", "cpu", "--threads", "1", "--no-progress"]
    assert main(args) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["steps"] == 4  # 8 samples drawn from 3 files: the loader wrapped around epochs
    assert main(["parser", "--data", f"folder:{tmp_path / 'missing'}", "--out", str(tmp_path / "r2")]) == 2
    assert "error" in capsys.readouterr().err


def test_rebuild_some_stages_reuses_the_others(built, tmp_path, capsys):
    """--stages trains only the runs named; every other network comes from its run in --work."""
    import shutil

    work = tmp_path / "work"
    shutil.copytree(built.with_name(built.name + ".work"), work)
    out = tmp_path / "again"
    args = ["bundle", "--out", str(out), "--work", str(work), "--tiny", "--budget-minutes", "1"]
    assert main(args + ["--device", "cpu", "--stages", "mrsa,rsm", "--steps", "5"]) == 0
    stages = load_bundle(out, device="cpu").meta["training"]["stages"]
    trained = {s["run"]: s for s in stages if not s.get("reused")}
    assert set(trained) == {"mrsa", "rsm"} and all(s["steps"] == 5 for s in trained.values())
    assert {s["run"] for s in stages if s.get("reused")} == {
        "parser",
        "generator",
        "generator_msca",
        "flow",
        "harmony",
    }
    again, first = load_bundle(out, device="cpu"), load_bundle(built, device="cpu")
    for name in ("encoder", "parser", "flow"):  # reused: bit-identical
        a, b = again.get(name).state_dict(), first.get(name).state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a), name
    assert "| parser | parser | 3 | 2 | 64 | reused |" in (out / "MODEL_CARD.md").read_text()
    (work / "HISTORY.md").write_text("Round 1: *hand-written* notes.\n")
    assert main(args + ["--device", "cpu", "--stages", "none"]) == 0  # export + evaluate only
    stages = load_bundle(out, device="cpu").meta["training"]["stages"]
    assert all(s.get("reused") for s in stages) and len(stages) == 7
    card = (out / "MODEL_CARD.md").read_text()
    assert "## Training history\n\nRound 1: *hand-written* notes.\n" in card
    assert card.index("## Training history") < card.index("## Goals") < card.index("## Stages")
    missing = ["--device", "cpu", "--stages", "none", "--history", str(tmp_path / "nope.md")]
    assert main(args + missing) == 2
    assert "--history" in capsys.readouterr().err
    capsys.readouterr()
    assert main(["bundle", "--out", str(out), "--stages", "mrsa,bogus"]) == 2
    assert "unknown run(s) bogus" in capsys.readouterr().err
    empty = ["bundle", "--out", str(tmp_path / "x"), "--work", str(tmp_path / "nowork"), "--tiny"]
    assert main(empty + ["--device", "cpu", "--stages", "rsm"]) == 2
    assert "has no finished run to reuse" in capsys.readouterr().err
