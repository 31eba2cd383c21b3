"""A scripted user for process-level tests: ``FACEPAINT_TEST_SCRIPT=script.json facepaint PHOTO``.

Once a document is open (a photo, a session or a restored autosave) the hook replays the script's
steps with a timer, through the real widgets (strokes are mouse events on the canvas), and after each
step appends a line to ``progress``. With ``dump`` it writes the final state there once the editor is
idle; with ``quit`` it then closes the window cleanly. The script (all keys optional)::

    {"steps": [{"op": "stroke", "label": 13, "size": 6, "points": [[x, y], ...]},
               {"op": "color", "region": 13, "rgb": [200, 40, 40]},
               {"op": "random", "region": 1, "seed": 7}, {"op": "undo"}, {"op": "redo"}],
     "interval_ms": 60, "progress": "progress.jsonl", "dump": "state.json", "quit": true}

Points are image coordinates of the crop. Never active unless the environment variable is set.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from PySide6.QtCore import QEvent, QObject, QPointF, Qt, QTimer
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

from editor.history import state_digest


def send_mouse(canvas, kind: str, x: float, y: float) -> None:
    """A left-button press / move / release at image point (x, y) of the canvas."""
    L, NB = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton
    etype, button, buttons = {
        "press": (QEvent.Type.MouseButtonPress, L, L),
        "move": (QEvent.Type.MouseMove, NB, L),
        "release": (QEvent.Type.MouseButtonRelease, L, NB),
    }[kind]
    pos = canvas.image_to_widget(x, y)
    gpos = QPointF(canvas.mapToGlobal(pos.toPoint()))
    QApplication.sendEvent(
        canvas, QMouseEvent(etype, pos, gpos, button, buttons, Qt.KeyboardModifier.NoModifier)
    )


class ScriptRunner(QObject):
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
            ctl.set_overrides(ctl.random_overrides(region, int(step["seed"])), "Random style")
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


def install(win, script_path: str) -> ScriptRunner:
    return ScriptRunner(win, json.loads(Path(script_path).read_text(encoding="utf-8")))
