"""Edit scripts for ``facepaint edit``: the JSON list of edits (``read_script``), the same edits from
command-line flags (``edits_from_args``), and one edit applied to a session (``apply_edit``). A path
in a script is absolute or stays inside the script's folder (``script_path``).
"""

from __future__ import annotations

import sys
from pathlib import Path

__all__ = ["CliError", "apply_edit", "as_float", "as_int", "edits_from_args", "read_script", "script_path"]


class CliError(Exception):
    pass


def _split(spec: str, sep: str, what: str) -> tuple[str, str]:
    if sep not in spec:
        raise CliError(f"bad {what} {spec!r}; expected the form {what.upper()}")
    a, b = spec.split(sep, 1)
    if not a or not b:
        raise CliError(f"bad {what} {spec!r}")
    return a, b


def as_int(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise CliError(f"{what} must be an integer, got {text!r}") from None


def as_float(text: str, what: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise CliError(f"{what} must be a number, got {text!r}") from None


def apply_edit(session, edit: dict, base: Path) -> None:
    """One edit of an edit script (also the form each CLI flag is turned into)."""
    from engine.imageio import read_mask

    if not isinstance(edit, dict) or not isinstance(edit.get("op"), str):
        raise CliError(f"each edit needs an 'op' string, got {edit!r}"[:200])
    op = edit["op"][:40]

    def ref_path(key="ref"):
        v = edit.get(key)
        if not isinstance(v, str) or not v:
            raise CliError(f"edit {op!r} needs a '{key}' path")
        return script_path(v, base, f"edit {op!r}")

    def region():
        v = edit.get("region")
        if not isinstance(v, (str, int)) or isinstance(v, bool):
            raise CliError(f"edit {op!r} needs a 'region'")
        return v

    if op == "mask":
        path = ref_path("path")
        mask, note = read_mask(path)
        mask, frame = session.prepared.mask_in_crop(mask)
        _note(note, f"{path.name} taken as a mask of the {frame}")
        session.set_mask(mask)
    elif op == "transfer":
        session.transfer(str(ref_path()), edit.get("regions") or [region()])
    elif op == "swap":
        session.face_swap(str(ref_path()))
    elif op == "color":
        session.color(region(), edit.get("color"))
    elif op == "random":
        session.random_style(region(), edit.get("seed", 0))
    elif op == "tune":
        session.tune(region(), edit.get("seed", 0), edit.get("eta", 1.0))
    elif op == "interp":
        session.interpolate(region(), str(ref_path()), edit.get("t", 0.5))
    elif op == "harmonize":
        session.set_harmonizer(edit.get("mode", "mrsa"), edit.get("alpha"))
    elif op == "composite":
        session.set_composite(edit.get("mode", "moved"))
    elif op == "brush":
        session.paint_brush(edit.get("points", []), edit.get("radius", 4), edit.get("label", 0))
    elif op == "fill":
        session.fill(edit.get("x", 0), edit.get("y", 0), edit.get("label", 0))
    elif op == "polygon":
        session.paint_polygon(edit.get("points", []), edit.get("label", 0))
    elif op == "rect":
        b = edit.get("box", [])
        if not isinstance(b, list) or len(b) != 4:
            raise CliError("a 'rect' edit needs box [x0, y0, x1, y1]")
        session.paint_rect(*b, edit.get("label", 0))
    elif op == "reset":
        session.reset_region(region())
    else:
        raise CliError(f"unknown edit op {op!r}")
    done = session.last_edit
    if op == "transfer" and done is not None and done.skipped:
        from engine.edits import missing_text

        _note(f"the reference has no {missing_text(done.skipped)}; those regions keep their style")


def _note(*lines: str) -> None:
    for line in filter(None, lines):
        print(f"note: {line}", file=sys.stderr)


def script_path(v: str, base: Path, what: str) -> Path:
    """A path named in an edit script: absolute, or relative to the script's folder without climbing
    out of it ('..' is refused, so a shared script cannot reach files beside or above its folder)."""
    from engine.limits import MAX_PATH_CHARS

    if len(v) > MAX_PATH_CHARS or "\x00" in v:
        raise CliError(f"{what}: the path is not a usable file name")
    p = Path(v)
    if p.is_absolute():
        return p
    if ".." in p.parts:
        raise CliError(f"{what}: the path {v[:200]!r} leaves the script's folder; relative paths must stay inside it")
    return base / p


def read_script(path: str) -> list[dict]:
    from engine.limits import MAX_SCRIPT_BYTES, MAX_SCRIPT_EDITS, parse_json

    p = Path(path)
    if not p.exists():
        raise CliError(f"edit script {p} does not exist")
    if not p.is_file():
        raise CliError(f"edit script {p} is not a regular file")
    try:
        if p.stat().st_size > MAX_SCRIPT_BYTES:
            raise CliError(f"edit script {p} is larger than {MAX_SCRIPT_BYTES} bytes")
        data = p.read_bytes()
    except OSError as e:
        raise CliError(f"cannot read edit script {p}: {e.strerror or e}") from None
    if len(data) > MAX_SCRIPT_BYTES:
        raise CliError(f"edit script {p} is larger than {MAX_SCRIPT_BYTES} bytes")
    doc = parse_json(data, f"edit script {p}", CliError)
    edits = doc.get("edits") if isinstance(doc, dict) else doc
    if not isinstance(edits, list):
        raise CliError(f"edit script {p} must be a list of edits or an object with an 'edits' list")
    if len(edits) > MAX_SCRIPT_EDITS:
        raise CliError(f"edit script {p} has more than {MAX_SCRIPT_EDITS} edits")
    for i, e in enumerate(edits):
        if not isinstance(e, dict) or not isinstance(e.get("op"), str):
            raise CliError(f"edit script {p}: edit {i + 1} is not an object with an 'op' string")
    return edits


def edits_from_args(a) -> list[dict]:
    edits: list[dict] = []
    if a.mask:
        edits.append({"op": "mask", "path": str(Path(a.mask).resolve())})
    for spec in a.transfer:
        reg, ref = _split(spec, "=", "region=ref")
        edits.append({"op": "transfer", "regions": [reg], "ref": str(Path(ref).resolve())})
    if a.swap:
        edits.append({"op": "swap", "ref": str(Path(a.swap).resolve())})
    for spec in a.color:
        reg, col = _split(spec, "=", "region=#rrggbb")
        edits.append({"op": "color", "region": reg, "color": col})
    for spec in a.random:
        reg, seed = _split(spec, ":", "region:seed")
        edits.append({"op": "random", "region": reg, "seed": as_int(seed, "seed")})
    for spec in a.tune:
        parts = spec.split(":")
        if len(parts) != 3:
            raise CliError(f"bad --tune {spec!r}; expected REGION:SEED:ETA")
        edits.append({"op": "tune", "region": parts[0], "seed": as_int(parts[1], "seed"),
                      "eta": as_float(parts[2], "eta")})
    for spec in a.interp:
        reg, rest = _split(spec, "=", "region=ref:t")
        if ":" not in rest:
            raise CliError(f"bad --interp {spec!r}; expected REGION=REF:T")
        ref, t = rest.rsplit(":", 1)
        edits.append({"op": "interp", "region": reg, "ref": str(Path(ref).resolve()), "t": as_float(t, "t")})
    return edits
