"""A scripted user for process-level tests of the editor.

Run ``python -m benchmarks.scripted_user SCRIPT.json [editor arguments]``: it starts the editor exactly
as ``facepaint [editor arguments]`` would, handing ``editor.app.run`` a hook that attaches a
``ScriptRunner`` to the new main window. The editor itself knows nothing about scripts.

When the first document is open (a photo, a session or a restored autosave), the runner plays the
script's steps one per timer tick through the real widgets (strokes are mouse events on the canvas)
and appends a JSON line to ``progress`` after each. With ``dump`` it writes the final state there once
the editor is idle; with ``quit`` it then closes the window without asking. Every key is optional::

    {"steps": [{"op": "stroke", "label": 13, "size": 6, "points": [[x, y], ...]},
               {"op": "color", "region": 13, "rgb": [200, 40, 40]},
               {"op": "random", "region": 1, "seed": 7}, {"op": "undo"}, {"op": "redo"}],
     "interval_ms": 60, "progress": "progress.jsonl", "dump": "state.json", "quit": true}

Stroke points are in image coordinates of the face crop.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QApplication

from benchmarks.harness import send_mouse
from editor import app
from engine.history import state_digest


class ScriptRunner(QObject):
    """Plays one script on one main window; owned by the window, so it lives as long as the window."""

    def __init__(self, win, script: dict):
        super().__init__(win)
        self.win, self.ctl = win, win.ctl
        self.steps = list(script.get("steps") or [])
        self.interval = int(script.get("interval_ms", 60))
        self.progress = Path(script["progress"]) if script.get("progress") else None
        self.dump = Path(script["dump"]) if script.get("dump") else None
        self.quit = bool(script.get("quit"))
        self.done = 0
        self.started = False
        self.ctl.documentOpened.connect(self._start)
        self.ctl.errorRaised.connect(lambda m: self._log({"error": m}))

    def _log(self, rec: dict) -> None:
        if self.progress is not None:
            with open(self.progress, "a", encoding="utf-8") as f:
                f.write(json.dumps({"t": time.time(), **rec}) + "\n")

    def _start(self) -> None:
        if self.started:
            return
        self.started = True
        self._log({"opened": self.ctl.doc.title, "count": self.ctl.undo_stack.count()})
        QTimer.singleShot(self.interval, self._next)

    def _next(self) -> None:
        if self.done >= len(self.steps):
            self._finish()
            return
        step = self.steps[self.done]
        self._run(step)
        self.done += 1
        st = self.ctl.doc.state
        stack = self.ctl.undo_stack
        self._log(
            {"step": self.done, "digest": state_digest(st), "count": stack.count(), "index": stack.index()}
        )
        QTimer.singleShot(self.interval, self._next)

    def _run(self, step: dict) -> None:
        ctl, win = self.ctl, self.win
        op = step.get("op")
        if op == "stroke":
            win.toolbar.select_tool("brush")
            win.toolbar.size.setValue(int(step.get("size", 6)))
            ctl.select_region(int(step["label"]))
            pts = step["points"]
            send_mouse(win.canvas, "press", *pts[0])
            for p in pts[1:]:
                send_mouse(win.canvas, "move", *p)
            send_mouse(win.canvas, "release", *pts[-1])
        elif op == "color":
            ctl.set_color(int(step["region"]), step["rgb"])
        elif op == "random":
            region = int(step["region"])
            ctl.random_style(region, int(step["seed"]))
        elif op == "undo":
            win.undo()
        elif op == "redo":
            win.redo()
        else:
            raise ValueError(f"unknown test step {op!r}")

    def _finish(self) -> None:
        if self.dump is None:
            return
        if not (self.win.client.idle and self.ctl.result_is_current):
            QTimer.singleShot(20, self._finish)
            return
        st = self.ctl.doc.state
        stack = self.ctl.undo_stack
        out = {
            "digest": state_digest(st),
            "state": st.to_json(),
            "count": stack.count(),
            "index": stack.index(),
            "title": self.ctl.doc.title,
            "modified": not stack.isClean(),
        }
        self.dump.write_text(json.dumps(out))
        self._log({"dumped": str(self.dump)})
        if self.quit:
            self.win.ask_unsaved = lambda: "discard"
            self.win.close()
            QApplication.instance().quit()


def install(win, script_path: str | Path) -> ScriptRunner:
    """Read the JSON script at ``script_path`` and attach a runner for it to ``win``."""
    return ScriptRunner(win, json.loads(Path(script_path).read_text(encoding="utf-8")))


def main(argv: list[str] | None = None) -> int:
    """``SCRIPT.json`` followed by the editor's own arguments; returns the editor's exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: python -m benchmarks.scripted_user SCRIPT.json [editor arguments]", file=sys.stderr)
        return 2
    script, rest = argv[0], argv[1:]
    return app.run(rest, on_window=lambda win: install(win, script))


if __name__ == "__main__":
    sys.exit(main())
