"""``facepaint ARGS``: pick the right program for the arguments and run it.

* ``info``, ``edit``, ``parse``, ``bench`` (and ``-h``) go to ``engine.cli``, with no Qt loaded, so they
  work without a display;
* ``bench --gui`` and ``bench --soak`` run ``benchmarks.gui`` / ``benchmarks.soak`` and print the report
  as JSON;
* anything else (``facepaint``, ``facepaint photo.jpg --device cpu``) opens the editor.

Qt, the editor and the benchmarks are imported only on the branch that needs them.
"""

from __future__ import annotations

import sys

from engine import cli

GUI_BENCH_FLAGS = ("--gui", "--soak")


def main(argv: list[str] | None = None) -> int:
    """Dispatch ``argv`` (default: the process arguments) and return the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "bench" and any(f in argv for f in GUI_BENCH_FLAGS):
        import json

        from benchmarks.gui import gui_bench
        from benchmarks.soak import soak_bench

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
