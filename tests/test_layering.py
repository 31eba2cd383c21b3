"""The house rules: import-linter layering contracts and ruff, run as tests."""

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _tool(name: str) -> str:
    exe = Path(sys.executable).parent / name
    return str(exe) if exe.exists() else (shutil.which(name) or name)


def test_import_contracts_hold():
    r = subprocess.run([_tool("lint-imports")], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_ruff_clean():
    r = subprocess.run([_tool("ruff"), "check", "engine", "editor", "training", "benchmarks", "facepaint_launch", "tests",
                        "scripts"],
                       cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_no_pickle_loading_in_code():
    offenders = []
    for p in list((ROOT / "engine").rglob("*.py")) + list((ROOT / "training").rglob("*.py")):
        text = p.read_text()
        if "pickle.load" in text or ("torch.load(" in text and "weights_only=True" not in text):
            offenders.append(str(p.relative_to(ROOT)))
    assert not offenders, f"weights must be loaded without pickle: {offenders}"
