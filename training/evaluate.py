"""``facepaint-train evaluate``: a quality report for a model bundle (JSON + PNG grids).

Everything is measured on held-out synthetic faces, seeds from ``--first-seed`` (default 0, the test
split; training uses seeds from 1,000,000), at the bundle's resolution. Keys of the report:

- ``recon_psnr`` / ``recon_ssim``: ``G(m, E(x, m))`` against ``x`` (dB; SSIM on [0, 1]).
- ``mask_consistency``: pixel accuracy of our parser (reading at its own resolution) on generated faces
  against the mask they were generated from; the faces get the styles of *another* face (mask-to-face), so the parser has to find
  the layout and not just the original image.
- ``harmony_error``: per harmoniser (``off``, ``mrsa``, ``msca``), a transfer of skin and/or hair from a
  source face onto a target, compared with the exact relit ground truth of the synthetic renderer:
  mean absolute difference of region-mean colours (0-255 scale) over the transferred classes. Lower is
  better; ``off`` is the unharmonised baseline. The MSCA path is the engine's: composed styles,
  ``generator_msca`` with ``MSCA(target mask, encoder pyramid of the source, source mask)``.
- ``recon_psnr_msca``: the same through the MSCA path (``generator_msca`` with MSCA features) with the
  face as its own exemplar: how much of a face the exemplar path carries beyond the region styles.
- ``recon_error_by_region``: per class of the mask, the RMSE of the reconstruction inside it (0-255)
  and its share of the total squared error: where the PSNR is lost.
- ``parser_miou``: mean IoU of the parser over the classes present in the ground truth or prediction,
  on faces rendered at ``parser_size`` (the bundle's ``parser_resolution``, else its resolution).
- ``real`` (with ``--real DIR``): per-class IoU of the engine's parse (:func:`engine.parsing.make_parser`)
  on real image/label pairs aligned as the editor aligns a photo (:mod:`training.real`).
- ``parser_miou_flip``: the same for the parse as the engine makes it for the bundle parser: the
  probabilities of the face and of its mirror image (left/right classes swapped back), each also read
  enlarged (``engine.parsing.BUNDLE_ZOOMS``), averaged.
- ``rsm_mcsd`` / ``rsm_mocd``: diversity of random RSM styles inside the edited region (should be high)
  and outside it (should be near 0), as the mean pairwise distance between generated images. The
  distance is our own stand-in for LPIPS: the encoder's pyramid features, each level unit-normalised
  over channels, mean absolute difference over the pixels inside (resp. outside) the region, averaged
  over levels. The generator noise is fixed, so any change outside the region is style leakage.
- ``harmony_score``: mean probability of "real" that the harmony scorer gives to MRSA-harmonised
  transfers composited into the target over the transferred region (``harmony_score_by`` lists
  ``off``/``mrsa``/``msca`` and the ground truth for reference).

A value is ``null`` when the bundle lacks a network it needs.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from engine.bundle import BundleError
from engine.harmonise import harmonise
from engine.labels import COLORS, NAMES, NUM_CLASSES
from engine.models.mrsa import compose_reference
from engine.networks import Networks
from training.config import ConfigError, parse_command
from training.losses import psnr, region_mean_abs_error, ssim
from training.stages.common import EVAL_SEED_LIMIT, images_to_tensor
from training.stages.gen_data import TRANSFER_CHOICES, Faces

__all__ = ["EvalConfig", "evaluate", "main"]


@dataclass
class EvalConfig:
    """Evaluate a model bundle on held-out synthetic faces."""

    bundle: str = field(default="", metadata={"help": "bundle folder (required)"})
    out: str = field(default="", metadata={"help": "report folder (default: <bundle>/evaluation)"})
    samples: int = field(default=32, metadata={"help": "held-out faces for reconstruction and parsing"})
    pairs: int = field(default=36, metadata={"help": "transfer pairs for the harmonisation figures"})
    rsm_faces: int = field(default=4, metadata={"help": "faces for the RSM diversity figures"})
    rsm_draws: int = field(default=4, metadata={"help": "random styles per face and region"})
    first_seed: int = field(default=0, metadata={"help": "first held-out synthetic seed"})
    device: str = field(default="auto", metadata={"choices": ("auto", "cpu", "cuda")})
    real: str = field(default="", metadata={"help": "real image/label pairs (images/ + labels/) for per-class IoU"})
    real_split: str = field(default="all", metadata={"choices": ("all", "train", "test")})
    real_limit: int = field(default=0, metadata={"help": "only the first N real pairs (0 = all)"})
    reshape_seeds: int = field(
        default=3, metadata={"help": "faces per reshape kind for the 'reshape' block (0 = skip it)"}
    )

    def __post_init__(self) -> None:
        if min(self.samples, self.pairs, self.rsm_faces) < 1 or self.rsm_draws < 2:
            raise ConfigError("--samples, --pairs, --rsm-faces must be >= 1 and --rsm-draws >= 2")
        last = self.first_seed + self.samples + 2 * self.pairs
        if self.first_seed < 0 or last > EVAL_SEED_LIMIT:
            raise ConfigError(f"held-out seeds must stay below {EVAL_SEED_LIMIT} (training seeds are above)")


def _faces(seeds, size, device) -> Faces:
    from training.data.synthetic import render_face

    samples = [render_face(s, size) for s in seeds]
    return Faces.from_arrays([s.image for s in samples], [s.label for s in samples], device)


def _parse_at(parser, x: torch.Tensor, size: int) -> torch.Tensor:
    """The parser's logits for ``x``, the images enlarged to the size it parses at and the logits
    brought back to ``x``'s size (the parser judges generated faces at its own resolution)."""
    h = x.shape[-1]
    if size == h:
        return parser(x)
    up = torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    return torch.nn.functional.interpolate(parser(up), size=(h, h), mode="area")


def _miou(pred: torch.Tensor, label: torch.Tensor) -> float:
    """Mean IoU over the classes present in ``label`` or ``pred``."""
    ious = []
    for c in range(NUM_CLASSES):
        inter = ((pred == c) & (label == c)).sum().item()
        union = ((pred == c) | (label == c)).sum().item()
        if union:
            ious.append(inter / union)
    return float(np.mean(ious))


def _region_errors(y: torch.Tensor, faces: Faces) -> dict[str, dict[str, float]]:
    """Per class: RMSE inside it on the 0-255 scale and its share of the squared error."""
    se = (y.float() - faces.image).pow(2).mean(1)  # [N, H, W], on [-1, 1]
    total = float(se.sum()) or 1.0
    out = {}
    for c in range(NUM_CLASSES):
        inside = faces.label == c
        n = int(inside.sum())
        if n:
            err = float(se[inside].sum())
            out[NAMES[c]] = {"rmse": (err / n) ** 0.5 * 127.5, "share": err / total}
    return out


def _mean(t) -> float:
    return float(torch.as_tensor(t, dtype=torch.float64).mean())


def _colour(label: torch.Tensor) -> torch.Tensor:
    lut = torch.as_tensor(COLORS, device=label.device).float() / 127.5 - 1
    return lut[label].permute(0, 3, 1, 2)


def _save_grid(path: Path, rows: list[torch.Tensor], n: int = 6) -> None:
    from PIL import Image

    rows = [r[:n].detach().float().cpu().clamp(-1, 1) for r in rows if r is not None]
    n = min(r.shape[0] for r in rows)
    grid = torch.cat([torch.cat(list(r[:n]), dim=2) for r in rows], dim=1)
    arr = ((grid.permute(1, 2, 0).numpy() + 1) * 127.5 + 0.5).clip(0, 255).astype(np.uint8)
    Image.fromarray(arr).save(path)


def _feature_distance(enc, a: torch.Tensor, b: torch.Tensor, region: torch.Tensor) -> tuple[float, float]:
    """(inside, outside) distance between image batches a and b, see the module docstring."""
    ins, outs = [], []
    for fa, fb in zip(enc.pyramid(a), enc.pyramid(b), strict=True):
        d = (F.normalize(fa, dim=1) - F.normalize(fb, dim=1)).abs().mean(1, keepdim=True)
        r = F.interpolate(region, size=d.shape[-2:], mode="area")
        ins.append(((d * r).flatten(1).sum(1) / r.flatten(1).sum(1).clamp_min(1e-6)).mean())
        outs.append(((d * (1 - r)).flatten(1).sum(1) / (1 - r).flatten(1).sum(1).clamp_min(1e-6)).mean())
    return _mean(torch.stack(ins)), _mean(torch.stack(outs))


@torch.no_grad()
def evaluate(
    bundle_path,
    *,
    out=None,
    samples=32,
    pairs=36,
    rsm_faces=4,
    rsm_draws=4,
    first_seed=0,
    device=None,
    grids_dir=None,
    real=None,
    real_split="all",
    real_limit=0,
    reshape_seeds=3,
) -> dict:
    """Compute the report for ``bundle_path``; writes ``evaluation.json`` and PNG grids when ``out`` is given."""
    from engine.bundle import load_bundle
    from training.data.synthetic import TRANSFER_GROUPS, render_transfer_gt

    if real:
        from training.real import real_pairs

        real_pairs(real, split=real_split)  # a missing or empty folder fails now, not after the rest
    bundle = load_bundle(bundle_path, device=device)
    dev, res = bundle.device, bundle.resolution
    nets = bundle.nets
    enc, gen = nets.get("encoder"), nets.get("generator")
    p_size = int(bundle.meta.get("parser_resolution", res))  # the size the engine parses at
    the = Networks(**{k: v for k, v in nets.items() if k in Networks.__dataclass_fields__})
    parser, scorer = nets.get("parser"), nets.get("harmony")
    report: dict = {
        k: None
        for k in (
            "recon_psnr",
            "recon_ssim",
            "recon_psnr_msca",
            "mask_consistency",
            "parser_miou",
            "parser_miou_flip",
            "rsm_mcsd",
            "rsm_mocd",
            "harmony_score",
        )
    }
    report["harmony_error"] = {"off": None, "mrsa": None, "msca": None}
    grids: dict[str, list] = {}
    faces = _faces(range(first_seed, first_seed + samples), res, dev)

    if enc is not None and gen is not None:
        s = enc(faces.image, faces.mask)
        y = gen(faces.mask, s, noise_seed=0)
        report["recon_psnr"] = _mean(psnr(y, faces.image))
        report["recon_ssim"] = _mean(ssim(y, faces.image, reduce=False))
        report["recon_error_by_region"] = _region_errors(y, faces)
        if the.has("msca") and the.has("generator_msca"):  # the face as its own exemplar
            everything = torch.ones(s.shape[:2], dtype=torch.bool, device=dev)
            y_m = harmonise(
                the, "msca", s, s, ~everything, edited=everything,
                target_mask=faces.mask, exemplar=(faces.image, faces.mask),
            ).generate(faces.mask)
            report["recon_psnr_msca"] = _mean(psnr(y_m, faces.image))
        present = faces.mask.flatten(2).sum(2) > 0
        other = torch.roll(s, 1, 0)
        swapped = gen(
            faces.mask, compose_reference(s, other, torch.roll(present, 1, 0) & present), noise_seed=0
        )
        grids["reconstruction"] = [faces.image, y, swapped, _colour(faces.label)]
        if parser is not None:
            acc = (_parse_at(parser, swapped, p_size).argmax(1) == faces.label).float().flatten(1).mean(1)
            report["mask_consistency"] = _mean(acc)

    if parser is not None:
        from engine.parsing import BUNDLE_ZOOMS, zoom_averaged

        pf = faces if p_size == res else _faces(range(first_seed, first_seed + samples), p_size, dev)
        pred = parser(pf.image).argmax(1)
        report["parser_size"] = p_size
        report["parser_miou"] = _miou(pred, pf.label)
        both = torch.cat([zoom_averaged(parser, pf.image[i : i + 8], BUNDLE_ZOOMS) for i in range(0, len(pf.image), 8)])
        report["parser_miou_flip"] = _miou(both.argmax(1), pf.label)
        grids["parser"] = [pf.image, _colour(pf.label), _colour(pred)]
        if real:
            from training.real import real_report

            report["real"], grids["real"] = real_report(bundle, real, split=real_split, limit=real_limit)

    if real and parser is None:
        report["real"] = {"error": "the bundle has no parser to measure on real faces"}

    if enc is not None and gen is not None:
        t0 = first_seed + samples
        trip = [
            render_transfer_gt(t0 + j, t0 + pairs + j, TRANSFER_CHOICES[j % len(TRANSFER_CHOICES)], res)
            for j in range(pairs)
        ]
        tgt = Faces.from_arrays([t.image for t, _, _ in trip], [t.label for t, _, _ in trip], dev)
        src = Faces.from_arrays([s.image for _, s, _ in trip], [s.label for _, s, _ in trip], dev)
        gt = images_to_tensor([g for _, _, g in trip], dev)
        edited = torch.zeros(pairs, NUM_CLASSES, dtype=torch.bool, device=dev)
        for j in range(pairs):
            for k in TRANSFER_CHOICES[j % len(TRANSFER_CHOICES)]:
                edited[j, list(TRANSFER_GROUPS[k])] = True
        present_t = tgt.mask.flatten(2).sum(2) > 0
        present_s = src.mask.flatten(2).sum(2) > 0
        edited &= present_t & present_s
        s_t, s_src = enc(tgt.image, tgt.mask), enc(src.image, src.mask)
        s_r = compose_reference(s_t, s_src, edited)
        # every harmoniser exactly as the editor runs it (engine.harmonise): the transferred rows are the
        # pasted ones, the source face is MSCA's exemplar
        outs = {}
        for name, needs in (("off", ()), ("mrsa", ("mrsa",)), ("msca", ("msca", "generator_msca"))):
            if all(the.has(n) for n in needs):
                h = harmonise(the, name, s_t, s_r, edited, target_mask=tgt.mask, exemplar=(src.image, src.mask))
                outs[name] = h.generate(tgt.mask)
        region = (tgt.mask * edited[:, :, None, None]).sum(1, keepdim=True).clamp(0, 1)
        for name, img in outs.items():
            errs = []
            for c in range(NUM_CLASSES):
                sel = edited[:, c]
                if sel.any():
                    cm = tgt.mask[sel][:, c : c + 1]
                    errs.append(region_mean_abs_error(img[sel], gt[sel], cm))
            report["harmony_error"][name] = _mean(torch.cat(errs)) if errs else None
        grids["transfer"] = [tgt.image, src.image, gt, *outs.values()]
        if scorer is not None:
            by = {}
            for name, img in [*outs.items(), ("ground_truth", gt)]:
                comp = tgt.image * (1 - region) + img * region
                by[name] = _mean(torch.sigmoid(scorer(comp, region)))
            report["harmony_score_by"] = by
            report["harmony_score"] = by.get("mrsa", by["off"])

    rsm = nets.get("rsm")
    if rsm is not None and enc is not None and gen is not None:
        f = Faces(faces.image[:rsm_faces], faces.label[:rsm_faces], faces.mask[:rsm_faces])
        s = enc(f.image, f.mask)
        inside, outside, draws = [], [], []
        for group in ("hair", "skin"):
            cls = list(rsm.classes_of(group))
            region = f.mask[:, cls].sum(1, keepdim=True).clamp(0, 1)
            imgs = []
            for k in range(rsm_draws):
                z = rsm.sample_z(10_000 + k, f.image.shape[0])
                sk = s.clone()
                sk[:, cls] = rsm(z, group)
                imgs.append(gen(f.mask, sk, noise_seed=0))
            draws.append(torch.stack(imgs, 1)[0])
            for a in range(rsm_draws):
                for b in range(a + 1, rsm_draws):
                    i, o = _feature_distance(enc, imgs[a], imgs[b], region)
                    inside.append(i)
                    outside.append(o)
        report["rsm_mcsd"], report["rsm_mocd"] = float(np.mean(inside)), float(np.mean(outside))
        grids["rsm"] = draws

    if reshape_seeds > 0 and enc is not None and gen is not None:
        from training.reshape_eval import reshape_report

        report["reshape"] = reshape_report(bundle, seeds=tuple(20_000 + k for k in range(reshape_seeds)))

    report["meta"] = {
        "bundle": str(bundle_path),
        "resolution": res,
        "device": str(dev),
        "held_out_seeds": [first_seed, first_seed + samples + 2 * pairs - 1],
        "samples": samples,
        "pairs": pairs,
        "rsm_faces": rsm_faces,
        "rsm_draws": rsm_draws,
    }
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "evaluation.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        gdir = Path(grids_dir) if grids_dir is not None else out
        gdir.mkdir(parents=True, exist_ok=True)
        for name, rows in grids.items():
            _save_grid(gdir / f"{name}.png", rows)
    return report


def main(argv: list[str] | None = None) -> int:
    def check(cfg):
        if not cfg.bundle:
            raise ConfigError("--bundle DIR is required")

    argv = sys.argv[1:] if argv is None else argv
    cfg, code = parse_command(EvalConfig, argv, "facepaint-train evaluate", check)
    if cfg is None:
        return code
    out = Path(cfg.out) if cfg.out else Path(cfg.bundle) / "evaluation"
    try:
        report = _evaluate_cfg(cfg, out)
    except (FileNotFoundError, BundleError) as e:
        print(f"facepaint-train evaluate: {e}", file=sys.stderr)
        return 2
    print(json.dumps({k: v for k, v in report.items() if k != "meta"}, indent=2))
    print(f"report: {out / 'evaluation.json'}", file=sys.stderr)
    return 0


def _evaluate_cfg(cfg: EvalConfig, out: Path) -> dict:
    return evaluate(
        cfg.bundle,
        out=out,
        samples=cfg.samples,
        pairs=cfg.pairs,
        rsm_faces=cfg.rsm_faces,
        rsm_draws=cfg.rsm_draws,
        first_seed=cfg.first_seed,
        device=cfg.device,
        real=cfg.real or None,
        real_split=cfg.real_split,
        real_limit=cfg.real_limit,
        reshape_seeds=cfg.reshape_seeds,
    )
