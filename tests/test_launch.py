"""The ``facepaint`` entry point sends each kind of command to its own package."""

from __future__ import annotations

import sys

import pytest

from facepaint_launch import main as launch


@pytest.fixture
def calls(monkeypatch):
    seen: list[tuple[str, list[str]]] = []
    import benchmarks.gui
    import benchmarks.soak
    import editor.app

    monkeypatch.setattr(launch.cli, "main", lambda argv: seen.append(("cli", argv)) or 0)
    monkeypatch.setattr(benchmarks.gui, "gui_bench", lambda argv: seen.append(("gui", argv)) or {"ok": 1})
    monkeypatch.setattr(benchmarks.soak, "soak_bench", lambda argv: seen.append(("soak", argv)) or {})
    monkeypatch.setattr(editor.app, "run", lambda argv: seen.append(("editor", argv)) or 0)
    return seen


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["info"], ("cli", ["info"])),
        (["bench", "--models"], ("cli", ["bench", "--models"])),
        (["--help"], ("cli", ["--help"])),
        (["bench", "--gui", "--strokes", "3"], ("gui", ["--strokes", "3"])),
        (["bench", "--soak", "--edits", "5"], ("soak", ["--edits", "5"])),
        (["photo.jpg", "--device", "cpu"], ("editor", ["photo.jpg", "--device", "cpu"])),
        ([], ("editor", [])),
    ],
)
def test_dispatch(calls, capsys, argv, expected):
    assert launch.main(argv) == 0
    assert calls == [expected]
    if expected[0] == "gui":
        assert '"ok": 1' in capsys.readouterr().out  # the report is printed as JSON


def test_headless_commands_do_not_load_qt():
    import subprocess

    code = "import sys; import facepaint_launch.main; assert 'PySide6' not in sys.modules and 'editor' not in sys.modules"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
