"""The ``facepaint`` entry point: headless subcommands go to engine.cli, anything else opens the editor.

Kept free of Qt imports so that ``facepaint info`` or ``facepaint edit`` work without a display.
"""

from __future__ import annotations

import sys

from engine import cli

GUI_BENCH_FLAGS = ("--gui", "--soak")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "bench" and any(f in argv for f in GUI_BENCH_FLAGS):
        import json

        from editor.bench import gui_bench
        from editor.soak import soak_bench

        rest = [a for a in argv[1:] if a not in GUI_BENCH_FLAGS]
        report = soak_bench(rest) if "--soak" in argv else gui_bench(rest)
        print(json.dumps(report, indent=2))
        return 0
    if argv and (argv[0] in cli.SUBCOMMANDS or argv[0] in ("-h", "--help")):
        return cli.main(argv)
    from editor import app

    return app.run(argv)


if __name__ == "__main__":
    sys.exit(main())
