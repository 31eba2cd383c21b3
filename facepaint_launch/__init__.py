"""The ``facepaint`` command (``facepaint_launch.main:main``), kept outside the three layers it chooses between.

It sits above ``engine``, ``editor`` and ``benchmarks``, so that none of them has to know the others'
commands: headless subcommands go to ``engine.cli``, ``bench --gui`` / ``bench --soak`` to
``benchmarks``, and anything else opens the editor. Nothing in engine, editor or training imports it.
"""
