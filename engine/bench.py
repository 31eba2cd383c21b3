"""``facepaint bench``: latency figures as JSON, measured on the current device.

Timings are medians after warm-up. The machines are shared and noisy, so compare ratios taken within
one run (the generator vs. the SEAN-sized yardstick) rather than absolute numbers across runs.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from engine import labels
from engine.bundle import BundleError, default_bundle_path, load_bundle
from engine.models.layers import one_hot


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median_ms(fn, runs: int = 15, warmup: int = 3, device=torch.device("cpu")) -> float:
    for _ in range(warmup):
        fn()
    _sync(device)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        _sync(device)
        times.append((time.perf_counter() - t0) * 1000)
    return round(statistics.median(times), 3)


def _sample_inputs(res: int, device, style_dim: int):
    g = torch.Generator().manual_seed(0)
    lab = torch.zeros(1, res, res, dtype=torch.long)
    # A face-like layout: background, skin disc, hair cap, eyes, lips.
    yy, xx = torch.meshgrid(torch.arange(res), torch.arange(res), indexing="ij")
    c = res / 2
    lab[0][(yy - c) ** 2 + (xx - c) ** 2 < (0.32 * res) ** 2] = 1
    lab[0][((yy - c * 0.8) ** 2 + (xx - c) ** 2 < (0.36 * res) ** 2) & (yy < c * 0.7)] = 13
    lab[0][((yy - c * 0.9) ** 2 + (xx - c * 0.75) ** 2) < (0.03 * res) ** 2] = 4
    lab[0][((yy - c * 0.9) ** 2 + (xx - c * 1.25) ** 2) < (0.03 * res) ** 2] = 5
    lab[0][((yy - c * 1.3) ** 2 / 4 + (xx - c) ** 2 / 16) < (0.02 * res) ** 2] = 11
    mask = one_hot(lab, labels.NUM_CLASSES).to(device)
    img = (torch.rand(1, 3, res, res, generator=g) * 2 - 1).to(device)
    styles = torch.randn(1, labels.NUM_CLASSES, style_dim, generator=g).to(device)
    return img, mask, styles


@torch.inference_mode()
def model_bench(bundle, runs: int = 15, resolution: int | None = None) -> dict:
    """Per-network median forward latency + parameter counts, and the generator/yardstick ratio.

    ``resolution`` times the (fully convolutional) networks at another size than the bundle's."""
    from engine.models.generator import Generator, GeneratorConfig

    dev, res = bundle.device, int(resolution or bundle.resolution)
    if res < 32 or res % 32:
        raise BundleError(f"benchmark resolution must be a multiple of 32, got {res}")
    enc = bundle.get("encoder")
    S = enc.cfg.style_dim
    img, mask, styles = _sample_inputs(res, dev, S)
    nets = {}

    def add(name, fn):
        if name in bundle.nets:
            m = bundle.nets[name]
            nets[name] = {"params": int(sum(p.numel() for p in m.parameters())),
                          "median_ms": median_ms(fn, runs, device=dev)}

    add("encoder", lambda: enc(img, mask))
    add("generator", lambda: bundle.nets["generator"](mask, styles, noise_seed=0))
    if "mrsa" in bundle.nets:
        add("mrsa", lambda: bundle.nets["mrsa"](styles, styles, alpha=1.0))
    if "msca" in bundle.nets and "generator_msca" in bundle.nets:
        pyr = enc.pyramid(img)
        add("msca", lambda: bundle.nets["msca"](mask, pyr, mask))
        extra = bundle.nets["msca"](mask, pyr, mask)
        add("generator_msca", lambda: bundle.nets["generator_msca"](mask, styles, extra=extra, noise_seed=0))
    if "rsm" in bundle.nets:
        add("rsm", lambda: bundle.nets["rsm"].sample(1, 0))
    if "flow" in bundle.nets:
        flow = bundle.nets["flow"]
        cls = torch.tensor([1], device=dev)

        def zstep():
            z = flow.to_z(styles[0, 1:2], cls)
            return flow.from_z(z + 0.5, cls)

        add("flow", zstep)
    if "parser" in bundle.nets:
        add("parser", lambda: bundle.nets["parser"](img))
    if "harmony" in bundle.nets:
        add("harmony", lambda: bundle.nets["harmony"](img, mask[:, 1:2]))

    regen = nets["generator"]["median_ms"]
    ycfg = GeneratorConfig.yardstick()
    yard = Generator(ycfg).eval().to(dev)
    _, ymask, ystyles = _sample_inputs(res, dev, ycfg.style_dim)
    yard_ms = median_ms(lambda: yard(ymask, ystyles, noise_seed=0), max(3, runs // 5), warmup=1, device=dev)
    return {
        "device": str(dev),
        "resolution": res,
        "networks": nets,
        "regenerate_ms": regen,
        "yardstick_ms": yard_ms,
        "yardstick_params": int(sum(p.numel() for p in yard.parameters())),
        "regenerate_ratio": round(regen / yard_ms, 4),
    }


def _test_photo(h: int = 3000, w: int = 4000) -> np.ndarray:
    """A 12 MP photo holding one of our bundled sample faces on a textured backdrop."""
    import cv2

    samples = sorted((Path(__file__).resolve().parent.parent / "resources" / "samples").glob("*.png"))
    rng = np.random.default_rng(0)
    photo = (rng.integers(90, 140, (h // 8, w // 8, 3))).astype(np.uint8)
    photo = cv2.resize(photo, (w, h), interpolation=cv2.INTER_CUBIC)
    if samples:
        face = cv2.cvtColor(cv2.imread(str(samples[0])), cv2.COLOR_BGR2RGB)
        s = int(h * 0.6)
        face = cv2.resize(face, (s, s), interpolation=cv2.INTER_CUBIC)
        y, x = (h - s) // 2, (w - s) // 2
        photo[y:y + s, x:x + s] = face
    return photo


def session_bench(bundle, runs: int = 7) -> dict:
    """Open→editable for a 12 MP photo, encode, regenerate after a stroke, transfer, RSM, z-step."""
    from engine.imageio import save_image
    from engine.session import EditSession, FaceEngine

    engine = FaceEngine(bundle)
    with tempfile.TemporaryDirectory() as td:
        path = Path(td) / "photo12mp.jpg"
        save_image(path, _test_photo())
        ref_path = Path(td) / "ref.jpg"
        save_image(ref_path, np.ascontiguousarray(_test_photo(1200, 1600)[:, ::-1]))

        def open_photo():
            return EditSession(engine, engine.prepare(path))

        open_ms = median_ms(open_photo, max(3, runs // 2), warmup=1)
        s = open_photo()
        prep = s.prepared
        encode_ms = median_ms(lambda: engine.encode(prep.crop, prep.parsed_mask), runs)
        R = engine.resolution
        k = [0]

        def stroke():
            k[0] += 1
            x = 40 + (k[0] * 7) % (R - 80)
            s.paint_brush([(x, R * 0.2), (x + 10, R * 0.25)], 4, 13 if k[0] % 2 else 1)
            return s.render()

        regen_ms = median_ms(stroke, runs)
        refs = [engine.add_reference(ref_path), engine.add_reference(path)]
        has = engine.reference(refs[0]).present & engine.reference(refs[1]).present
        present = [r for r in (13, 1, 11) if has[r]] or [int(r) for r in np.flatnonzero(has)]

        def transfer():
            # Alternate two references so that no render repeats the previous state (never a cache hit).
            s.transfer(refs[k[0] % 2], [present[k[0] % len(present)]])
            k[0] += 1
            return s.render()

        transfer_ms = median_ms(transfer, runs)
        out = {"open_ms": open_ms, "encode_ms": encode_ms, "regenerate_ms": regen_ms,
               "transfer_ms": transfer_ms}
        if bundle.has("rsm"):
            rsm = bundle.get("rsm")
            with torch.inference_mode():
                out["rsm_ms"] = median_ms(lambda: rsm.sample(13, k[0]), max(runs, 50))
        if bundle.has("flow"):
            style = prep.styles[13]
            out["zstep_ms"] = median_ms(lambda: engine.tune_style(style, 13, 1, 0.5), runs)
    return out


def run(a) -> dict:
    path = a.bundle or default_bundle_path()
    try:
        bundle = load_bundle(path, device=a.device)
    except BundleError as e:
        raise BundleError(f"{e} (benchmarks need a bundle; pass --bundle DIR)") from None
    report: dict = {"device": str(bundle.device), "device_reason": bundle.device_reason,
                    "threads": torch.get_num_threads(), "bundle": str(path)}
    if a.models:
        report.update(model_bench(bundle, a.runs, a.resolution))
    else:
        report.update(session_bench(bundle, max(3, a.runs // 2)))
    return report
