"""``MODEL_CARD.md`` of a model bundle: how it was trained, the goals it meets, the evaluation.

:func:`model_card` turns the summary of :func:`training.build_bundle.build_bundle` and the report of
:func:`training.evaluate.evaluate` into markdown. The goals table is computed from the report
(:data:`GOALS`); the training history is free text kept beside the runs (``<work>/HISTORY.md``).
"""

from __future__ import annotations

__all__ = ["GOALS", "goal_rows", "model_card"]


def _fmt(v) -> str:
    if v is None:
        return "n/a"
    return f"{v:.4g}" if isinstance(v, float) else str(v)


#: Issue 5's goals on held-out synthetic faces: (figure, how it is read from the report, goal, test).
GOALS: tuple[tuple[str, str, str, object], ...] = (
    ("reconstruction PSNR", "recon_psnr", ">= 30 dB", lambda v: v >= 30.0),
    ("mask consistency", "mask_consistency", ">= 0.98", lambda v: v >= 0.98),
    ("MRSA transfer error / no harmoniser", "mrsa_ratio", "<= 0.7", lambda v: v <= 0.7),
    ("parser mIoU", "parser_miou", ">= 0.95", lambda v: v >= 0.95),
    ("RSM mCSD", "rsm_mcsd", ">= 0.04", lambda v: v >= 0.04),
    ("RSM mOCD", "rsm_mocd", "<= 0.05", lambda v: v <= 0.05),
)


def goal_rows(report: dict) -> list[tuple[str, float | None, str, bool | None]]:
    """(figure, value, goal, met) for each of :data:`GOALS`; value and met are None when not measured."""
    he = report.get("harmony_error") or {}
    values = dict(report)
    off, mrsa = he.get("off"), he.get("mrsa")
    values["mrsa_ratio"] = mrsa / off if off and mrsa is not None else None
    rows = []
    for label, key, goal, test in GOALS:
        v = values.get(key)
        rows.append((label, v, goal, None if v is None else bool(test(v))))
    return rows


def model_card(summary: dict, report: dict, resolution: int, history: str = "") -> str:
    real = sorted({r["options"]["data"] for r in summary["stages"] if r.get("options", {}).get("data")})
    origin = "Trained from scratch by FacePaint's own training code on its procedural synthetic face corpus" + (
        f" and, for some runs, on real labelled faces ({', '.join(real)}). **Weights trained on CelebAMask-HQ / "
        "CelebA-HQ faces carry those data sets' terms: non-commercial research use only.** No downloaded "
        "weights were used."
        if real
        else ". No external data set and no downloaded weights were used."
    )
    lines = [
        "# FacePaint model bundle",
        "",
        origin,
        "",
        f"- Command: `{summary['command']}`",
        f"- Data: {summary['data']}",
        f"- Resolution: {resolution} px",
        f"- Device: {summary['device']}, torch {summary['torch']}"
        + (f", commit {summary['commit']}" if summary["commit"] else ""),
        (
            f"- Budget: {summary['budget_minutes']} min; training wall time {summary['train_wall_s'] / 60:.1f} "
            f"min, total with export and evaluation {summary['total_wall_s'] / 60:.1f} min"
            if any(not r.get("reused") for r in summary["stages"])
            else "- Budget: none used: every run was reused from the work folder (see the stages below)"
        ),
        "",
    ]
    if history.strip():
        lines += ["## Training history", "", history.strip(), ""]
    lines += [
        "## Goals (issue 5, held-out synthetic faces, stated at 256 px; this bundle works at "
        f"{resolution} px)",
        "",
        "| figure | reached | goal | met |",
        "|---|---|---|---|",
    ]
    for label, v, goal, met in goal_rows(report):
        lines.append(
            f"| {label} | {_fmt(v)} | {goal} | {'n/a' if met is None else ('yes' if met else 'no')} |"
        )
    lines += [
        "",
        "## Stages",
        "",
        "| run | networks | steps | batch | size | wall time | images/s | final loss | options |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in summary["stages"]:
        opts = ", ".join(f"{k}={v}" for k, v in r["options"].items())
        wall = "reused" if r.get("reused") else f"{r['wall_s'] / 60:.1f} min"
        lines.append(
            f"| {r['run']} | {', '.join(r['networks'])} | {r['steps']} | {r['batch_size']} | {r['size']} | "
            f"{wall} | {_fmt(r['images_per_s'])} | {_fmt(r['final'].get('loss'))} | {opts} |"
        )
    he = report.get("harmony_error") or {}
    lines += [
        "",
        "## Evaluation (held-out synthetic faces, `facepaint-train evaluate`)",
        "",
        "| figure | value |",
        "|---|---|",
        f"| reconstruction PSNR (dB) | {_fmt(report.get('recon_psnr'))} |",
        f"| reconstruction SSIM | {_fmt(report.get('recon_ssim'))} |",
        f"| reconstruction PSNR through MSCA, the face as its own exemplar (dB) | "
        f"{_fmt(report.get('recon_psnr_msca'))} |",
        f"| mask consistency (parser pixel accuracy on generated faces) | {_fmt(report.get('mask_consistency'))} |",
        f"| parser mIoU | {_fmt(report.get('parser_miou'))} |",
        f"| parser mIoU, mirror- and zoom-averaged as the engine parses | {_fmt(report.get('parser_miou_flip'))} |",
        f"| transfer error vs relit ground truth, harmoniser off (0-255) | {_fmt(he.get('off'))} |",
        f"| transfer error, MRSA | {_fmt(he.get('mrsa'))} |",
        f"| transfer error, MSCA | {_fmt(he.get('msca'))} |",
        f"| RSM mCSD (diversity inside the region, higher is better) | {_fmt(report.get('rsm_mcsd'))} |",
        f"| RSM mOCD (change outside the region, lower is better) | {_fmt(report.get('rsm_mocd'))} |",
        f"| harmony score (P(real) of MRSA-harmonised edits) | {_fmt(report.get('harmony_score'))} |",
    ]
    regions = report.get("recon_error_by_region") or {}
    if regions:
        top = sorted(regions.items(), key=lambda kv: -kv[1]["share"])[:8]
        lines += [
            "",
            "Where the reconstruction error is (the regions with the largest share of the squared error):",
            "",
            "| region | RMSE inside (0-255) | share of the error |",
            "|---|---|---|",
        ]
        lines += [f"| {name} | {r['rmse']:.1f} | {r['share']:.3f} |" for name, r in top]
    lines += [
        "",
        "Definitions are in `training/evaluate.py`; the raw figures are in `evaluation.json`, image grids in "
        "`evaluation/`.",
        "",
        "## Limits",
        "",
        "- Trained on synthetic faces only: expect a domain gap on photographs (the parser is trained with "
        "strong augmentation to narrow it).",
        "- One style vector per region carries colour and shading, little fine texture.",
        "",
    ]
    return "\n".join(lines)
