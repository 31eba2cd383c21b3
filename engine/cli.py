"""Headless commands: ``facepaint edit | parse | bench | info``.

Errors are one clear line on stderr, exit status 2, and no partial output file.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from engine import labels
from engine.cli_script import CliError, apply_edit, as_float, edits_from_args, read_script

EXIT_ERROR = 2


def _user_errors():
    from engine.bundle import BundleError
    from engine.faceengine import EngineError
    from engine.imageio import ImageError
    from engine.maskops import MaskOpError
    from engine.state import StateError

    return (BundleError, EngineError, ImageError, StateError, MaskOpError, CliError, labels.UnknownRegionError)


def _check_output(path: str | None, what: str) -> None:
    if not path:
        return
    p = Path(path)
    if p.exists() and p.is_dir():
        raise CliError(f"{what} {p} is a folder, not a file")
    if not p.parent.exists():
        raise CliError(f"cannot write {what} {p}: folder {p.parent} does not exist")


def _crop_box(text: str | None):
    if not text:
        return None
    parts = text.split(",")
    if len(parts) != 3:
        raise CliError(f"bad --crop {text!r}; expected X,Y,SIZE (centre and side in photo pixels)")
    vals = [as_float(v, "--crop value") for v in parts]
    if vals[2] <= 0:
        raise CliError("the --crop size must be positive")
    return tuple(vals)


def _edit_one(engine, photo: Path, out: Path, a, script: list[dict]) -> None:
    from engine.session import EditSession

    session = EditSession(engine, engine.prepare(photo, align=not a.no_align, crop_box=_crop_box(a.crop)))
    if a.harmonize or a.alpha is not None:
        session.set_harmonizer(a.harmonize or session.state.harmonizer, a.alpha)
    mode = a.composite or ("whole" if a.whole_face else None)
    if mode:
        session.set_composite(mode)
    base = Path(a.script).resolve().parent if a.script else Path.cwd()
    for edit in script + edits_from_args(a):
        apply_edit(session, edit, base)
    session.export(out, mask_path=a.save_mask, session_path=a.save_session)
    if not session.prepared.face_found:
        print(f"warning: {photo}: {session.prepared.status}", file=sys.stderr)


def cmd_edit(a) -> int:
    from engine.session import EditSession

    script = read_script(a.script) if a.script else []
    for p in (a.save_mask, a.save_session):
        _check_output(p, "output")
    engine = EditSession.load_engine(a.bundle, detector=a.detector)
    if a.batch:
        src, dst = Path(a.photo), Path(a.output)
        if not src.is_dir():
            raise CliError(f"--batch needs a folder of photos, {src} is not one")
        dst.mkdir(parents=True, exist_ok=True)
        photos = sorted(p for p in src.iterdir() if p.suffix.lower() in
                        (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"))
        failed = 0
        for p in photos:
            try:
                _edit_one(engine, p, dst / p.name, a, script)
                print(f"ok {p.name}")
            except _user_errors() as e:
                failed += 1
                print(f"error {p.name}: {e}", file=sys.stderr)
        print(f"{len(photos) - failed} edited, {failed} failed")
        return 0 if not failed else EXIT_ERROR
    _check_output(a.output, "output")
    _edit_one(engine, Path(a.photo), Path(a.output), a, script)
    return 0


def cmd_parse(a) -> int:
    from engine.bundle import load_bundle
    from engine.imageio import save_image, save_mask
    from engine.parsing import ParserUnavailable, make_parser
    from engine.session import EditSession

    _check_output(a.output, "output")
    _check_output(a.vis, "output")
    parser = None
    if a.parser != "bundle":
        try:
            parser = make_parser(a.parser, weights=a.parser_weights)
        except ParserUnavailable as e:
            raise CliError(str(e)) from None
    bundle = load_bundle(a.bundle) if a.bundle else None
    engine = EditSession.load_engine(bundle, parser=parser, detector=a.detector)
    prep = engine.prepare(a.photo, align=not a.no_align, crop_box=_crop_box(a.crop))
    if a.frame == "crop":
        mask, under = prep.parsed_mask, prep.crop
    else:  # the photo's own frame: same width and height as the (EXIF-oriented) photo
        mask, under = prep.mask_in_photo(prep.work_mask), prep.photo.rgb
    save_mask(a.output, mask)
    if a.vis:
        import cv2

        save_image(a.vis, cv2.addWeighted(under, 0.45, labels.colorize(mask), 0.55, 0))
    if not prep.face_found:
        print(f"warning: {prep.status}", file=sys.stderr)
    return 0


def cmd_info(a) -> int:
    import importlib.metadata as md
    import platform

    import torch

    from engine.bundle import BundleError, default_bundle_path, load_bundle, select_device

    choice = select_device(a.device)
    info = {"device": str(choice.device), "device_reason": choice.reason, "python": platform.python_version()}
    for pkg in ("torch", "torchvision", "numpy", "opencv-python-headless", "PySide6", "safetensors",
                "torchdiffeq", "facexlib"):
        try:
            info[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            info[pkg] = None
    info["cuda_available"] = torch.cuda.is_available()
    path = a.bundle or default_bundle_path()
    try:
        info["bundle"] = load_bundle(path, device=choice.device).describe()
    except BundleError as e:
        info["bundle"] = {"path": str(path), "error": str(e)}
    print(json.dumps(info, indent=2))
    return 0


def cmd_bench(a) -> int:
    from engine import bench

    try:
        report = bench.run(a)
    except ValueError as e:
        raise CliError(f"cannot benchmark: {e}") from None
    print(json.dumps(report, indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="facepaint", description="FacePaint headless commands")
    sub = ap.add_subparsers(dest="cmd", required=True)

    e = sub.add_parser("edit", help="edit a photo without the GUI")
    e.add_argument("photo")
    e.add_argument("-o", "--output", required=True)
    e.add_argument("--mask", help="replace the parsed mask with this label PNG (the photo's size, or the crop's)")
    e.add_argument("--transfer", action="append", default=[], metavar="REGION=REF")
    e.add_argument("--swap", metavar="REF", help="face swap+: all face regions and hair from REF")
    e.add_argument("--color", action="append", default=[], metavar="REGION=#rrggbb")
    e.add_argument("--random", action="append", default=[], metavar="REGION:SEED")
    e.add_argument("--tune", action="append", default=[], metavar="REGION:SEED:ETA")
    e.add_argument("--interp", action="append", default=[], metavar="REGION=REF:T")
    e.add_argument("--harmonize", choices=["mrsa", "msca", "off"])
    e.add_argument("--alpha", type=float)
    e.add_argument("--whole-face", action="store_true", help="same as --composite whole")
    e.add_argument("--composite", choices=["changed", "moved", "raw", "whole"],
                   help="moved: keep the photo's detail, reshapes move its pixels (default); changed: keep "
                        "the detail, reshaped pixels painted; raw: generated pixels; whole: whole face")
    e.add_argument("--bundle")
    e.add_argument("--script", metavar="EDITS.json")
    e.add_argument("--batch", action="store_true", help="PHOTO and -o are folders")
    e.add_argument("--save-mask", metavar="MASK.png", help="also write the edited mask (the photo's frame)")
    e.add_argument("--save-session", metavar="SESSION.json")
    e.add_argument("--no-align", action="store_true", help="use the whole image instead of a face crop")
    e.add_argument("--crop", metavar="X,Y,SIZE", help="place the crop by hand: centre and side in photo pixels")
    e.add_argument("--detector", default="auto")
    e.set_defaults(func=cmd_edit)

    p = sub.add_parser("parse", help="parse a photo into the 19 regions")
    p.add_argument("photo")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--vis")
    p.add_argument("--frame", choices=["photo", "crop"], default="photo",
                   help="photo: the mask has the photo's size (default); crop: the aligned crop the model sees")
    p.add_argument("--parser", default="bundle", choices=["bundle", "bisenet", "parsenet"])
    p.add_argument("--parser-weights")
    p.add_argument("--bundle")
    p.add_argument("--no-align", action="store_true")
    p.add_argument("--crop", metavar="X,Y,SIZE", help="place the crop by hand: centre and side in photo pixels")
    p.add_argument("--detector", default="auto")
    p.set_defaults(func=cmd_parse)

    b = sub.add_parser("bench", help="benchmarks (JSON)")
    b.add_argument("--models", action="store_true", help="per-network latency and the yardstick ratio")
    b.add_argument("--bundle")
    b.add_argument("--runs", type=int, default=15)
    b.add_argument("--resolution", type=int, help="time --models at this size instead of the bundle's")
    b.add_argument("--device")
    b.set_defaults(func=cmd_bench)

    i = sub.add_parser("info", help="device, bundle and versions")
    i.add_argument("--bundle")
    i.add_argument("--device")
    i.set_defaults(func=cmd_info)
    return ap


SUBCOMMANDS = ("edit", "parse", "bench", "info")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except _user_errors() as e:
        print(f"facepaint: error: {e}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("facepaint: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
