"""Autosave: every committed edit reaches the disk at once, so a crash or a kill loses nothing committed.

Design (the costs are measured by the soak benchmark, ``facepaint bench --soak``):

* Each running editor owns one folder ``<data>/autosave/<time>-<pid>-<random>/`` with a ``lock``
  (a QLockFile: a running editor's folder is locked, an orphan's lock is stale because its process is
  gone), ``snapshot.json`` and ``journal.jsonl``. ``<data>`` is ``$FACEPAINT_DATA_DIR``, else the folder
  next to an explicit settings INI (``<ini stem>-data``), else the user's app data folder
  (QStandardPaths' AppDataLocation, e.g. ``~/.local/share/FacePaint/FacePaint``).
* ``snapshot.json`` (format ``facepaint-autosave``, version 1): a session document (photo and references
  by absolute path + sha256, alignment, parsed mask, the state at the bottom of the undo stack) and the
  undo history (every operation's record, the index, a digest of the current state), plus the sequence
  number of the last journal record it already covers.
* ``journal.jsonl``: one line per push, undo and redo after the snapshot, written with ``os.write`` in
  the UI thread when the command is committed (tens of microseconds). The kernel holds the bytes from
  then on, so a crash or SIGKILL of the editor loses at most a stroke still being drawn. A background
  thread fsyncs 1.5 s after the last edit (against power cuts).
* After 1000 journal lines (or 16 MB) a new snapshot is written (temp file + rename) and the journal
  starts empty. Nothing is written for a document until its first edit.
* A clean close removes the folder; the next launch offers to restore any orphan (``find_orphans``).
  Reading and replaying an autosave lives in ``editor.recovery``.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QLockFile, QStandardPaths

from editor.settings import APPLICATION, ORGANISATION
from engine.atomicio import atomic_write, sync_folder
from engine.history import base_of, state_digest
from engine.session import session_doc

AUTOSAVE_FORMAT = "facepaint-autosave"
AUTOSAVE_VERSION = 1
SNAPSHOT, JOURNAL, LOCK = "snapshot.json", "journal.jsonl", "lock"
COMPACT_RECORDS = 1000
COMPACT_BYTES = 16 * 2**20
SYNC_DELAY_S = 1.5


def data_dir(settings=None) -> Path:
    """Where FacePaint keeps its own files (autosaves)."""
    env = os.environ.get("FACEPAINT_DATA_DIR")
    if env:
        return Path(env)
    ini = getattr(settings, "path", None)
    if ini:
        ini = Path(ini)
        return ini.with_name(ini.stem + "-data")
    # AppDataLocation, spelled out so that it does not depend on the QApplication's names being set
    loc = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.GenericDataLocation)
    return (Path(loc) if loc else Path.home() / ".local" / "share") / ORGANISATION / APPLICATION


def autosave_root(settings=None) -> Path:
    return data_dir(settings) / "autosave"


def _try_lock(folder: Path) -> QLockFile | None:
    lock = QLockFile(str(folder / LOCK))
    lock.setStaleLockTime(0)  # stale only when its process is gone, never by age
    return lock if lock.tryLock(0) else None


@dataclass
class Orphan:
    """An autosave left behind by an editor that did not close cleanly (we hold its lock now)."""

    folder: Path
    saved_at: float
    title: str
    steps: int
    lock: QLockFile

    def describe(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(self.saved_at)) if self.saved_at else "unknown"
        steps = f"{self.steps} change{'s' if self.steps != 1 else ''}"
        return f"{self.title} ({steps}, last saved {when})"

    def remove(self) -> None:
        self.lock.unlock()
        shutil.rmtree(self.folder, ignore_errors=True)

    def release(self) -> None:
        """Leave it for a later launch."""
        self.lock.unlock()


def _summary(folder: Path) -> tuple[float, str, int]:
    """(saved at, title, steps) for the restore question; never raises (reading proper does the checks)."""
    snap = folder / SNAPSHOT
    saved_at, title, steps = snap.stat().st_mtime, folder.name, 0
    try:
        doc = json.loads(snap.read_bytes()[: 256 * 2**20])
        d = doc.get("document") or {}
        title = str(d.get("title") or title)[:120]
        steps = len((doc.get("history") or {}).get("ops") or [])
        journal = folder / JOURNAL
        if journal.is_file():
            steps += journal.read_bytes().count(b"\n")
            saved_at = max(saved_at, journal.stat().st_mtime)
    except (OSError, ValueError, AttributeError, TypeError, RecursionError):
        pass
    return saved_at, title, steps


def find_orphans(root: Path, exclude: Path | None = None) -> list[Orphan]:
    """Autosave folders whose editor is gone, newest first. Empty ones (no edit ever saved) are removed."""
    root = Path(root)
    if not root.is_dir():
        return []
    out = []
    for folder in root.iterdir():
        if not folder.is_dir() or folder == exclude:
            continue
        lock = _try_lock(folder)
        if lock is None:
            continue  # a running editor owns it
        if not (folder / SNAPSHOT).is_file():
            lock.unlock()
            shutil.rmtree(folder, ignore_errors=True)
            continue
        out.append(Orphan(folder, *_summary(folder), lock))
    return sorted(out, key=lambda o: o.saved_at, reverse=True)


class _Syncer(threading.Thread):
    """fsyncs the journal (and the folder) once edits have paused for SYNC_DELAY_S."""

    def __init__(self):
        super().__init__(name="facepaint-autosave-sync", daemon=True)
        self.cv = threading.Condition()
        self.due: float | None = None
        self.target: tuple[int, Path] | None = None
        self.stop = False

    def poke(self, fd: int, folder: Path) -> None:
        with self.cv:
            self.target, self.due = (fd, folder), time.monotonic() + SYNC_DELAY_S
            self.cv.notify()

    def run(self) -> None:
        while True:
            with self.cv:
                while not self.stop and (self.due is None or self.due > time.monotonic()):
                    self.cv.wait(None if self.due is None else max(self.due - time.monotonic(), 0.01))
                if self.stop:
                    return
                (fd, folder), self.due = self.target, None
            try:
                os.fsync(fd)
            except OSError:
                pass  # closed meanwhile, or a file system without fsync: the next poke tries again
            sync_folder(folder)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


class Autosave:
    """Writes the current document's autosave. Listener of the HistoryStack (pushed/undone/redone)."""

    def __init__(
        self,
        root: Path,
        *,
        compact_records: int = COMPACT_RECORDS,
        on_error: Callable[[str], None] | None = None,
    ):
        self.root = Path(root)
        self.compact_records = compact_records
        self.on_error = on_error
        self.folder: Path | None = None
        self.failed: str | None = None
        self.seq = 0
        self._lock: QLockFile | None = None
        self._fd: int | None = None
        self._doc = self._stack = None
        self._ref_entry: Callable[[str], dict | None] = lambda rid: None
        self._need_snapshot = True
        self._records = self._bytes = 0
        self._written_refs: set[str] = set()
        self._syncer: _Syncer | None = None
        self.append_ms: list[float] = []  # recent costs, for the benchmark (bounded)
        self.snapshot_ms: list[float] = []

    # --- document lifecycle ---------------------------------------------------------------------
    def attach(self, doc, stack, ref_entry: Callable[[str], dict | None], *, write_now: bool = False) -> None:
        """A new document: its first edit writes a fresh snapshot (``write_now``: at once, e.g. after a
        restore). The previous document's files are replaced."""
        if self._stack is not None and self._stack is not stack:
            self._stack.listener = None
        self._doc, self._stack, self._ref_entry = doc, stack, ref_entry
        stack.listener = self
        self._need_snapshot, self.seq, self.failed = True, 0, None
        self._close_journal()
        if self.folder is not None:
            for name in (SNAPSHOT, JOURNAL):
                (self.folder / name).unlink(missing_ok=True)
        if write_now:
            self._guard(self._snapshot)

    def discard(self) -> None:
        """A clean close: this editor's autosave is no longer needed."""
        if self._stack is not None:
            self._stack.listener = None
        self._doc = self._stack = None
        self._close_journal()
        if self._syncer is not None:
            with self._syncer.cv:
                self._syncer.stop = True
                self._syncer.cv.notify()
            self._syncer = None
        if self.folder is not None:
            if self._lock is not None:
                self._lock.unlock()
            shutil.rmtree(self.folder, ignore_errors=True)
        self.folder = self._lock = None

    # --- HistoryStack listener ------------------------------------------------------------------
    def pushed(self, cmd) -> None:
        self._guard(self._append, "push", cmd.op)

    def undone(self) -> None:
        self._guard(self._append, "undo", None)

    def redone(self) -> None:
        self._guard(self._append, "redo", None)

    # --- internals ------------------------------------------------------------------------------
    def _guard(self, fn, *args) -> None:
        if self.failed is not None or self._doc is None:
            return
        t0 = time.perf_counter()
        try:
            fn(*args)
        except (OSError, ValueError, TypeError) as e:
            self.failed = getattr(e, "strerror", None) or str(e) or type(e).__name__
            self._close_journal()
            if self.on_error is not None:
                self.on_error(
                    f"Autosave stopped ({self.failed}); your edits are not protected against a crash. "
                    "Save the session (Ctrl+S)."
                )
        ms = (time.perf_counter() - t0) * 1000.0
        log = self.snapshot_ms if fn == self._snapshot or self._records == 0 else self.append_ms
        log.append(ms)
        if len(log) > 20_000:
            del log[:10_000]

    def _close_journal(self) -> None:
        if self._fd is not None:
            try:
                os.close(self._fd)
            except OSError:
                pass
            self._fd = None

    def _ensure_folder(self) -> Path:
        if self.folder is None:
            self.root.mkdir(parents=True, exist_ok=True)
            name = f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-{secrets.token_hex(3)}"
            folder = self.root / name
            folder.mkdir()
            lock = _try_lock(folder)
            if lock is None:
                raise OSError(f"cannot lock the autosave folder {folder}")
            self.folder, self._lock = folder, lock
        return self.folder

    def _entries(self, ids) -> dict:
        out = {}
        for rid in sorted(ids):
            e = self._ref_entry(rid)
            if e is not None:
                out[rid] = e
        return out

    def _append(self, what: str, op) -> None:
        if self._need_snapshot or self._fd is None:
            self._snapshot()
            return
        self.seq += 1
        rec = {
            "seq": self.seq,
            "op": what,
            "index": self._stack.index(),
            "digest": state_digest(self._doc.state),
        }
        if op is not None:
            rec["cmd"] = op.record()
            new = op.refs() - self._written_refs
            if new:
                rec["refs"] = self._entries(new)
                self._written_refs |= new
        data = (json.dumps(rec, separators=(",", ":")) + "\n").encode()
        _write_all(self._fd, data)
        self._records += 1
        self._bytes += len(data)
        if self._records >= self.compact_records or self._bytes >= COMPACT_BYTES:
            self._snapshot()
        else:
            self._poke()

    def _snapshot(self) -> None:
        folder = self._ensure_folder()
        doc, stack = self._doc, self._stack
        ops, index = stack.ops, stack.index()
        base = getattr(stack, "base", None)
        if base is None:
            base = base_of(doc.state, ops, index)
        ids = set(base.refs()) | set(doc.state.refs())
        for op in ops:
            ids |= op.refs()
        entries = self._entries(ids)
        snap = {
            "format": AUTOSAVE_FORMAT,
            "version": AUTOSAVE_VERSION,
            "seq": self.seq,
            "saved_at": time.time(),
            "document": {
                "title": doc.title,
                "source": str(Path(doc.source).resolve()) if doc.source else None,
                "session_path": str(Path(doc.session_path).resolve()) if doc.session_path else None,
            },
            "session": session_doc(doc.prepared, base, entries, base=None, photo_sha=doc.photo_sha256),
            "history": {
                "ops": [op.record() for op in ops],
                "index": index,
                "limit": stack.undoLimit(),
                "digest": state_digest(doc.state),
            },
        }
        # atomic but not fsynced: the UI thread never waits for the disk (the syncer fsyncs the folder)
        atomic_write(folder / SNAPSHOT, json.dumps(snap, separators=(",", ":")), "autosave snapshot", sync=False)
        self._close_journal()
        jtmp = folder / f".{JOURNAL}.tmp"
        fd = os.open(jtmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o600)
        os.replace(jtmp, folder / JOURNAL)
        self._fd = fd
        self._need_snapshot, self._records, self._bytes = False, 0, 0
        self._written_refs = set(entries)
        self._poke()

    def _poke(self) -> None:
        if self._syncer is None:
            self._syncer = _Syncer()
            self._syncer.start()
        self._syncer.poke(self._fd, self.folder)
