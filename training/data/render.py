"""``facepaint-train render``: write synthetic faces to disk.

    facepaint-train render --count N --size 256 --out DIR [--seed S] [--relit] [--workers W]

Writes ``DIR/images/<id>.png`` (RGB) and ``DIR/labels/<id>.png`` (8-bit class ids, engine.labels
order), ids being the zero-padded seeds ``S .. S+N-1``, and ``DIR/meta.jsonl`` (one line of attributes
per face). With ``--relit`` each face is written under two lights: ``images/<id>_a.png`` and
``images/<id>_b.png`` share ``labels/<id>.png``. The folders are ``folder:DIR``-readable (plain mode).
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import sys
import tempfile
from dataclasses import dataclass, field

import cv2
from tqdm import tqdm

from training.config import ConfigError, HelpRequested, format_help, parse_config
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


@dataclass
class RenderConfig:
    """Render synthetic faces (image + label PNGs) to a folder."""

    count: int = field(default=0, metadata={"help": "number of faces (required)"})
    out: str = field(default="", metadata={"help": "output folder, created (required)"})
    size: int = field(default=256, metadata={"help": "image size in pixels"})
    seed: int = field(default=0, metadata={"help": "first seed"})
    relit: bool = field(default=False, metadata={"help": "write each face under two lights"})
    workers: int = field(default=1, metadata={"help": "processes (spawned)"})
    progress: bool = field(default=True, metadata={"help": "progress bar"})

    def __post_init__(self) -> None:
        if self.count < 1:
            raise ConfigError(f"--count must be >= 1, got {self.count}")
        if not self.out:
            raise ConfigError("--out is required")
        if self.size < 32:
            raise ConfigError(f"--size must be >= 32, got {self.size}")
        if self.seed < 0 or self.workers < 1:
            raise ConfigError("--seed must be >= 0 and --workers >= 1")


def main(argv: list[str] | None = None) -> int:
    try:
        a = parse_config(RenderConfig, argv, prog="facepaint-train render")
    except HelpRequested:
        print(format_help(RenderConfig, "facepaint-train render", __doc__ or ""))
        return 0
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    why = _check_writable(a.out)
    if why is not None:
        print(f"error: cannot write to {a.out!r}: {why}", file=sys.stderr)
        return 2
    jobs = [(s, a.size, a.relit, a.out) for s in range(a.seed, a.seed + a.count)]
    bar = tqdm(total=a.count, unit="face", desc="render", disable=not a.progress)
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
