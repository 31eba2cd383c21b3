"""``facepaint-train render``: write synthetic faces to disk.

    facepaint-train render --count N --size 256 --out DIR [--seed S] [--relit] [--workers W]

Writes ``DIR/images/<id>.png`` (RGB) and ``DIR/labels/<id>.png`` (8-bit class ids, engine.labels
order), ids being the zero-padded seeds ``S .. S+N-1``, and ``DIR/meta.jsonl`` (one line of attributes
per face). With ``--relit`` each face is written under two lights: ``images/<id>_a.png`` and
``images/<id>_b.png`` share ``labels/<id>.png``. The folders are ``folder:DIR``-readable (plain mode).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
import tempfile

import cv2
from tqdm import tqdm

from training.data.synthetic import render_face, render_relit_pair


def _write_png(path: str, arr) -> None:
    img = cv2.cvtColor(arr, cv2.COLOR_RGB2BGR) if arr.ndim == 3 else arr
    if not cv2.imwrite(path, img, [cv2.IMWRITE_PNG_COMPRESSION, 3]):
        raise OSError(f"could not write {path}")


def _render_one(job: tuple[int, int, bool, str]) -> dict:
    seed, size, relit, out = job
    sid = f"{seed:08d}"
    if relit:
        a, b = render_relit_pair(seed, size)
        _write_png(os.path.join(out, "images", f"{sid}_a.png"), a.image)
        _write_png(os.path.join(out, "images", f"{sid}_b.png"), b.image)
        label, attrs = (
            a.label,
            dict(
                a.attrs,
                light_b=b.attrs["light_dir"],
                light_colour_b=b.attrs["light_colour"],
                light_intensity_b=b.attrs["light_intensity"],
            ),
        )
    else:
        s = render_face(seed, size)
        _write_png(os.path.join(out, "images", f"{sid}.png"), s.image)
        label, attrs = s.label, s.attrs
    _write_png(os.path.join(out, "labels", f"{sid}.png"), label)
    return {"id": sid, "seed": seed, **attrs}


def _check_writable(out: str) -> str | None:
    """None when DIR/images and DIR/labels can be created and written, else the reason."""
    try:
        for sub in ("images", "labels"):
            os.makedirs(os.path.join(out, sub), exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=os.path.join(out, "images"), prefix=".probe")
        os.close(fd)
        os.remove(probe)
    except OSError as e:
        return e.strerror or str(e)
    return None


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="facepaint-train render",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--count", type=int, required=True, help="number of faces")
    ap.add_argument("--size", type=int, default=256, help="image size in pixels (default 256)")
    ap.add_argument("--out", required=True, help="output folder (created)")
    ap.add_argument("--seed", type=int, default=0, help="first seed (default 0)")
    ap.add_argument("--relit", action="store_true", help="write each face under two lights")
    ap.add_argument("--workers", type=int, default=1, help="processes (spawned; default 1)")
    ap.add_argument("--no-progress", action="store_true", help="no progress bar")
    return ap


def main(argv: list[str] | None = None) -> int:
    a = build_parser().parse_args(argv)
    if a.count < 1:
        print(f"error: --count must be >= 1, got {a.count}", file=sys.stderr)
        return 2
    if a.size < 32:
        print(f"error: --size must be >= 32, got {a.size}", file=sys.stderr)
        return 2
    if a.seed < 0 or a.workers < 1:
        print("error: --seed must be >= 0 and --workers >= 1", file=sys.stderr)
        return 2
    why = _check_writable(a.out)
    if why is not None:
        print(f"error: cannot write to {a.out!r}: {why}", file=sys.stderr)
        return 2
    jobs = [(s, a.size, a.relit, a.out) for s in range(a.seed, a.seed + a.count)]
    bar = tqdm(total=a.count, unit="face", desc="render", disable=a.no_progress)
    try:
        with open(os.path.join(a.out, "meta.jsonl"), "w", encoding="utf-8") as meta:
            if a.workers == 1:
                results = map(_render_one, jobs)
                pool = None
            else:
                pool = mp.get_context("spawn").Pool(a.workers)
                results = pool.imap(_render_one, jobs, chunksize=16)
            try:
                for rec in results:
                    meta.write(json.dumps(rec) + "\n")
                    bar.update(1)
            finally:
                if pool is not None:
                    pool.terminate()
    except OSError as e:
        print(f"error: writing to {a.out!r} failed: {e}", file=sys.stderr)
        return 2
    finally:
        bar.close()
    print(f"wrote {a.count} face(s){' (relit pairs)' if a.relit else ''} to {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
