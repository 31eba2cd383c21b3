"""``facepaint-train``: train the stages, render the synthetic corpus, build and evaluate bundles.

    facepaint-train <stage> --data synthetic --out DIR --steps N [--option value ...]
        stages: parser, generator (--variant mrsa|msca), mrsa, rsm, flow, harmony
        under torchrun: torchrun --nproc-per-node 2 -m training.cli generator ...
    facepaint-train render ...                   the synthetic corpus to image/label files
    facepaint-train bundle --out DIR [--budget-minutes M] [--tiny]
    facepaint-train evaluate --bundle DIR [--out DIR] [--real DIR]
    facepaint-train align --src DIR --out DIR [--size 256]   real image/label pairs into the editor's frame
    facepaint-train bench <stage> [--steps N] [--ddp]

``facepaint-train <command> --help`` lists every option of a command.
"""

from __future__ import annotations

import difflib
import json
import sys

from training.config import parse_command
from training.loop import STAGES, stage_class

__all__ = ["main"]

COMMANDS = ("render", "bundle", "evaluate", "bench", "align")


def _usage() -> str:
    return (__doc__ or "").strip()


def _train(name: str, argv: list[str]) -> int:
    from training.loop import train

    cls = stage_class(name)
    prog = f"facepaint-train {name}"
    cfg, code = parse_command(cls.config_cls, argv, prog)
    if cfg is None:
        return code
    from training.data.sample import DatasetError

    try:
        res = train(cls, cfg)
    except (ValueError, FileNotFoundError, DatasetError) as e:  # bad data, missing earlier networks, ...
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 2
    if res.history or res.nets_dir is not None:
        last = {k: round(v, 5) for k, v in (res.history[-1] if res.history else {}).items()}
        print(
            json.dumps(
                {
                    "stage": res.stage,
                    "steps": res.step,
                    "wall_s": round(res.wall_s, 1),
                    "images_per_s": round(res.images_per_s, 2),
                    "device": res.device,
                    "last": last,
                    "nets": str(res.nets_dir) if res.nets_dir else None,
                }
            )
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0 if argv else 2
    cmd, rest = argv[0], argv[1:]
    if cmd in STAGES:
        return _train(cmd, rest)
    if cmd == "render":
        from training.data.render import main as render_main

        return int(render_main(rest) or 0)
    if cmd == "bundle":
        from training.build_bundle import main as bundle_main

        return bundle_main(rest)
    if cmd == "evaluate":
        from training.evaluate import main as eval_main

        return eval_main(rest)
    if cmd == "align":
        from training.real import align_main

        return align_main(rest)
    if cmd == "bench":
        from training.bench import main as bench_main

        return bench_main(rest)
    choices = list(STAGES) + list(COMMANDS)
    close = difflib.get_close_matches(cmd, choices, n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    print(
        f"facepaint-train: unknown command {cmd!r}{hint}; choose one of: {', '.join(choices)}",
        file=sys.stderr,
    )
    return 2


if __name__ == "__main__":  # torchrun -m training.cli <stage> ...
    sys.exit(main())
