"""Reading an autosave back (in the engine worker): snapshot, then the journal replayed record by record.

Everything read is untrusted: the snapshot goes through the session-file checks (format and version,
the path rule with sha256, the mask limits), history records through ``history.op_from_record``, and
each journal record must carry the next sequence number and reproduce the digest it recorded. The
replay stops at the first record that fails (a line torn by the kill, a missing reference) and keeps
everything before it; ``Restored.note`` says what was dropped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from editor.autosave import AUTOSAVE_FORMAT, AUTOSAVE_VERSION, JOURNAL, SNAPSHOT
from engine.history import HISTORY_LIMIT, History, HistoryError, op_from_record, state_digest
from engine.labels import swap_left_right
from engine.limits import parse_json
from engine.session import (
    EngineError,
    SessionFileError,
    check_session_header,
    load_references,
    read_session_doc,
    session_version,
)

MAX_AUTOSAVE_BYTES = 256 * 2**20
MAX_OPS = 10_000


@dataclass
class Restored:
    folder: Path
    prepared: object  # PreparedImage
    history: History
    source: Path | None
    session_path: Path | None
    title: str
    refs: dict = field(default_factory=dict)  # id -> {"path", "sha256", "aligned"}
    photo_sha256: str = ""
    replayed: int = 0
    note: str = ""

    @property
    def state(self):
        return self.history.state


def _read(path: Path, what: str) -> bytes:
    try:
        if path.stat().st_size > MAX_AUTOSAVE_BYTES:
            raise SessionFileError(f"{what} {path} is larger than any autosave FacePaint writes")
        return path.read_bytes()
    except OSError as e:
        raise SessionFileError(f"cannot read {what} {path}: {e.strerror or e}") from None


def _opt_path(v) -> Path | None:
    return Path(v) if isinstance(v, str) and v and len(v) < 4096 and "\x00" not in v else None


def read_autosave(engine, folder: Path) -> Restored:
    """Restore the photo, the undo history and the current state saved in ``folder``."""
    folder = Path(folder)
    snap = folder / SNAPSHOT
    where = f"autosave {snap}"
    doc = parse_json(_read(snap, "autosave"), where, SessionFileError)
    check_session_header(doc, where, fmt=AUTOSAVE_FORMAT, version=AUTOSAVE_VERSION, kind="autosave")
    session = doc.get("session")
    prep, base = read_session_doc(session, folder, engine, where=where, rename_sides=False)
    refs = dict(session.get("references") or {})
    shape = prep.work_mask.shape
    hist = doc.get("history")
    if not isinstance(hist, dict) or not isinstance(hist.get("ops"), list) or len(hist["ops"]) > MAX_OPS:
        raise SessionFileError(f"{where}: the undo history is missing or malformed")
    index = hist.get("index")
    if type(index) is not int:
        raise SessionFileError(f"{where}: the undo history has no index")
    try:
        ops = [op_from_record(r, shape) for r in hist["ops"]]
        history = History(base, ops, index, limit=HISTORY_LIMIT)
    except (HistoryError, ValueError) as e:
        raise SessionFileError(f"{where}: the undo history is unusable: {e}") from None
    missing = history.refs() - set(refs)
    if missing:
        raise SessionFileError(f"{where}: the history uses references that are not listed")
    if hist.get("digest") != state_digest(history.state):
        raise SessionFileError(f"{where}: the undo history does not reproduce the saved state")
    seq = doc.get("seq")
    if type(seq) is not int or seq < 0:
        raise SessionFileError(f"{where}: the sequence number is missing")
    info = doc.get("document") if isinstance(doc.get("document"), dict) else {}
    out = Restored(
        folder,
        prep,
        history,
        _opt_path(info.get("source")),
        _opt_path(info.get("session_path")),
        str(info.get("title") or folder.name)[:120],
        refs,
        session["photo"]["sha256"],
    )
    _replay(engine, folder / JOURNAL, out, seq)
    if session_version(session) < 2:  # saved when l_* meant the image's left: rename what was restored
        h = out.history
        out.prepared = engine.prepare(
            prep.photo, alignment=prep.alignment, parsed_mask=swap_left_right(prep.parsed_mask),
            parsed_work=swap_left_right(prep.work_mask), work_scale=prep.work_scale,
        )
        out.history = History(h.base.sides_renamed(), [op.sides_renamed() for op in h.ops], h.index,
                              limit=HISTORY_LIMIT)
    return out


def _replay(engine, journal: Path, out: Restored, seq: int) -> None:
    if not journal.is_file():
        return
    lines = _read(journal, "autosave journal").split(b"\n")
    torn = lines.pop() != b""  # the last piece has no newline: written partly, or empty
    shape = out.prepared.work_mask.shape
    h = out.history
    for i, line in enumerate(lines):
        try:
            rec = json.loads(line)
            if not isinstance(rec, dict) or type(rec.get("seq")) is not int:
                raise HistoryError("not a journal record")
        except (ValueError, RecursionError, HistoryError):
            out.note = f"{len(lines) - i} unreadable journal line(s) were dropped"
            return
        if rec["seq"] <= seq:
            continue  # already in the snapshot
        if rec["seq"] != seq + 1:
            out.note = f"the journal skips from step {seq} to {rec['seq']}; later steps were dropped"
            return
        saved = (h.base, list(h.ops), h.index, h.state)
        try:
            _apply(engine, out, rec, shape)
        except (HistoryError, EngineError, ValueError) as e:
            h.base, h.ops, h.index, h.state = saved
            out.note = f"{len(lines) - i} step(s) could not be replayed ({e})"
            return
        if rec.get("digest") != state_digest(h.state) or rec.get("index") != h.index:
            h.base, h.ops, h.index, h.state = saved
            out.note = f"step {rec['seq']} did not reproduce its saved state; it and later steps were dropped"
            return
        seq = rec["seq"]
        out.replayed += 1
    if torn:
        out.note = "the last, partly written step was dropped"


def _apply(engine, out: Restored, rec: dict, shape: tuple[int, int]) -> None:
    h = out.history
    op = rec.get("op")
    if op == "push":
        new_refs = rec.get("refs") or {}
        if new_refs:
            load_references(engine, new_refs, out.folder, f"autosave journal {out.folder}")
            out.refs.update(new_refs)
        cmd = op_from_record(rec.get("cmd"), shape)
        if cmd.refs() - set(out.refs):
            raise HistoryError("the step uses a reference that is not listed")
        h.push(cmd)
    elif op == "undo":
        if not h.undo():
            raise HistoryError("nothing to undo")
    elif op == "redo":
        if not h.redo():
            raise HistoryError("nothing to redo")
    else:
        raise HistoryError(f"unknown journal operation {str(op)[:20]!r}")
