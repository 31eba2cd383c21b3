"""Developer tools that drive the real editor from the outside: measurements and a scripted user.

* ``benchmarks.gui``: ``facepaint bench --gui``, UI-thread paint time and stroke latency;
* ``benchmarks.soak``: ``facepaint bench --soak``, a long session of mixed edits (memory, stalls);
* ``benchmarks.scripted_user``: replays a JSON script of edits in a real editor process, for the
  process-level tests (``python -m benchmarks.scripted_user SCRIPT [editor arguments]``);
* ``benchmarks.harness``: what they share (an offscreen window with a photo open, synthetic mouse input).

This package may import ``editor`` and ``engine``; neither of them, nor ``training``, may import it
(an import-linter contract in pyproject.toml).
"""
