"""The undo history as plain data: compact mask deltas, edit operations, their JSON records, replay.

Every undoable edit is an *operation*: an immutable, Qt-free object with ``transform(state, forward)``
that maps an ``EditState`` to the next one (or back). ``EditSession`` keeps them in a ``History``; the
QUndoCommands in ``editor.commands`` wrap the same operations; the autosave journal stores their
``record()``, and a restore rebuilds them with ``op_from_record`` and replays them with ``History``.

Memory: a mask operation keeps only the touched box, zlib-compressed before and after (a brush stroke
is a few hundred bytes), never a full mask copy. The stack holds at most ``HISTORY_LIMIT`` operations.
"""

from __future__ import annotations

import base64
import json
import zlib
from dataclasses import dataclass, field, replace

import numpy as np

from engine import maskops
from engine.labels import MIRROR, NAMES, NUM_CLASSES
from engine.maskops import MaskDelta
from engine.state import SETTINGS, EditState, FreeRegion, Override, StateError

HISTORY_LIMIT = 500
MAX_TEXT = 200


class HistoryError(ValueError):
    """A history record that cannot be used (malformed, foreign, or not matching the photo)."""


def _pack(a: np.ndarray) -> bytes:
    return zlib.compress(np.ascontiguousarray(a, np.uint8).tobytes(), 1)


class CompactDelta:
    """A mask change: the touched box (y0, y1, x0, x1) with its pixels before and after, compressed."""

    __slots__ = ("box", "before_z", "after_z")

    def __init__(self, box: tuple[int, int, int, int], before_z: bytes, after_z: bytes):
        self.box = tuple(int(v) for v in box)
        self.before_z = before_z
        self.after_z = after_z

    @classmethod
    def from_delta(cls, d: MaskDelta) -> CompactDelta:
        return cls(d.box, _pack(d.before), _pack(d.after))

    @property
    def shape(self) -> tuple[int, int]:
        y0, y1, x0, x1 = self.box
        return (y1 - y0, x1 - x0)

    def _unpack(self, z: bytes) -> np.ndarray:
        h, w = self.shape
        d = zlib.decompressobj()
        raw = d.decompress(z, h * w + 1)
        if len(raw) != h * w or d.unconsumed_tail:
            raise HistoryError(f"a mask change holds {len(raw)} bytes, expected {h * w}")
        return np.frombuffer(raw, np.uint8).reshape(h, w)

    def before(self) -> np.ndarray:
        return self._unpack(self.before_z)

    def after(self) -> np.ndarray:
        return self._unpack(self.after_z)

    def apply(self, mask: np.ndarray, forward: bool = True) -> np.ndarray:
        y0, y1, x0, x1 = self.box
        out = np.array(mask, copy=True)
        out[y0:y1, x0:x1] = self.after() if forward else self.before()
        return out

    @property
    def nbytes(self) -> int:
        return len(self.before_z) + len(self.after_z)


class Op:
    """Base of the edit operations. ``kind`` is what the document tells its listeners changed."""

    kind = "op"

    def __init__(self, text: str):
        self.text = str(text)[:MAX_TEXT]
        self._record: dict | None = None

    def transform(self, state: EditState, forward: bool) -> EditState:  # pragma: no cover - abstract
        raise NotImplementedError

    def _fields(self) -> dict:  # pragma: no cover - abstract
        raise NotImplementedError

    def record(self) -> dict:
        """JSON-ready form (computed once: operations are immutable)."""
        if self._record is None:
            self._record = {"t": self.kind, "text": self.text, **self._fields()}
        return self._record

    def refs(self) -> set[str]:
        return set()

    def sides_renamed(self) -> Op:
        """The same step with left and right classes renamed (see ``EditState.sides_renamed``)."""
        return self

    @property
    def nbytes(self) -> int:
        return 64


class MaskOp(Op):
    kind = "mask"

    def __init__(self, text: str, delta: CompactDelta):
        super().__init__(text)
        self.delta = delta

    def transform(self, state, forward):
        return state.with_mask(self.delta.apply(state.mask, forward))

    def _fields(self):
        b64 = base64.b64encode
        return {
            "box": list(self.delta.box),
            "before": b64(self.delta.before_z).decode(),
            "after": b64(self.delta.after_z).decode(),
        }

    @property
    def nbytes(self) -> int:
        return 64 + self.delta.nbytes

    def sides_renamed(self) -> MaskOp:
        d = self.delta
        return MaskOp(self.text, CompactDelta(d.box, _pack(MIRROR[d.before()]), _pack(MIRROR[d.after()])))


class StyleOp(Op):
    """Overrides of some regions: ``changes`` = ((region, old, new), ...), None = own style."""

    kind = "style"

    def __init__(self, text: str, changes):
        super().__init__(text)
        self.changes = tuple((int(r), old, new) for r, old, new in changes)

    def transform(self, state, forward):
        for r, old, new in self.changes:
            state = state.with_override(r, new if forward else old)
        return state

    def _fields(self):
        def js(o):
            return None if o is None else o.to_json()

        return {"changes": [[NAMES[r], js(old), js(new)] for r, old, new in self.changes]}

    def refs(self):
        return {o.ref for _, a, b in self.changes for o in (a, b) if o is not None and o.ref}

    def sides_renamed(self) -> StyleOp:
        def ren(o):
            if o is None or o.source_region is None:
                return o
            return replace(o, source_region=int(MIRROR[o.source_region]))

        return StyleOp(self.text, [(int(MIRROR[r]), ren(a), ren(b)) for r, a, b in self.changes])


class SettingsOp(Op):
    kind = "settings"

    def __init__(self, text: str, old: dict, new: dict):
        super().__init__(text)
        self.old, self.new = dict(old), dict(new)

    def transform(self, state, forward):
        return state.with_settings(**(self.new if forward else self.old))

    def _fields(self):
        return {"old": self.old, "new": self.new}


class FreeOp(Op):
    kind = "free"

    def __init__(self, text: str, old, new):
        super().__init__(text)
        self.old, self.new = tuple(old), tuple(new)

    def transform(self, state, forward):
        return replace(state, free_regions=self.new if forward else self.old)

    def _fields(self):
        return {"old": [f.to_json() for f in self.old], "new": [f.to_json() for f in self.new]}

    def refs(self):
        return {f.ref for f in self.old + self.new}

    @property
    def nbytes(self) -> int:
        return 64 + sum(len(f.bits) for f in self.old + self.new)


def op_between(old: EditState, new: EditState, text: str) -> Op | None:
    """The operation that takes ``old`` to ``new`` (None when nothing differs). An edit changes one
    thing (the mask, some overrides, the settings or the free regions); two at once is a bug."""
    ops: list[Op] = []
    if not np.array_equal(old.mask, new.mask):
        ops.append(MaskOp(text, CompactDelta.from_delta(maskops.replace(old.mask, new.mask))))
    regions = sorted(set(old.overridden) | set(new.overridden))
    changes = [(r, old.override(r), new.override(r)) for r in regions if old.override(r) != new.override(r)]
    if changes:
        ops.append(StyleOp(text, changes))
    keys = [k for k in SETTINGS if getattr(old, k) != getattr(new, k)]
    if keys:
        ops.append(SettingsOp(text, {k: getattr(old, k) for k in keys}, {k: getattr(new, k) for k in keys}))
    if old.free_regions != new.free_regions:
        ops.append(FreeOp(text, old.free_regions, new.free_regions))
    if len(ops) > 1:
        raise ValueError(f"one edit changed {', '.join(op.kind for op in ops)} at once")
    return ops[0] if ops else None


# ------------------------------------------------------------------------------------------ records
def _b64(v, what: str, limit: int) -> bytes:
    if not isinstance(v, str) or len(v) > limit:
        raise HistoryError(f"{what} must be a base64 string")
    try:
        return base64.b64decode(v, validate=True)
    except (ValueError, TypeError):
        raise HistoryError(f"{what} is not valid base64") from None


def _override(v):
    return None if v is None else Override.from_json(v)


def op_from_record(rec, shape: tuple[int, int]) -> Op:
    """Rebuild an operation from its record, checking everything against the mask ``shape``."""
    if not isinstance(rec, dict):
        raise HistoryError("a history entry must be an object")
    t, text = rec.get("t"), rec.get("text", "")
    if not isinstance(text, str):
        raise HistoryError("a history entry's text must be a string")
    try:
        if t == "mask":
            box = rec.get("box")
            if not (isinstance(box, list) and len(box) == 4 and all(type(v) is int for v in box)):
                raise HistoryError("a mask change needs a box of 4 integers")
            y0, y1, x0, x1 = box
            if not (0 <= y0 <= y1 <= shape[0] and 0 <= x0 <= x1 <= shape[1]):
                raise HistoryError(f"a mask change's box {box} lies outside the {shape[1]}×{shape[0]} mask")
            limit = 4 * shape[0] * shape[1] + 1024
            d = CompactDelta(
                box,
                _b64(rec.get("before"), "mask pixels", limit),
                _b64(rec.get("after"), "mask pixels", limit),
            )
            for a in (d.before(), d.after()):
                if a.size and int(a.max()) >= NUM_CLASSES:
                    raise HistoryError(f"a mask change holds label {int(a.max())}")
            return MaskOp(text, d)
        if t == "style":
            ch = rec.get("changes")
            if not isinstance(ch, list) or not 0 < len(ch) <= NUM_CLASSES:
                raise HistoryError("a style change needs a list of region changes")
            out = []
            for c in ch:
                if not (isinstance(c, list) and len(c) == 3 and c[0] in NAMES):
                    raise HistoryError("a style change names an unknown region")
                out.append((NAMES.index(c[0]), _override(c[1]), _override(c[2])))
            return StyleOp(text, out)
        if t == "settings":
            old, new = rec.get("old"), rec.get("new")
            if not (isinstance(old, dict) and isinstance(new, dict)) or set(old) != set(new):
                raise HistoryError("a settings change needs matching 'old' and 'new' objects")
            probe = EditState(mask=np.zeros((1, 1), np.uint8))
            probe.with_settings(**old), probe.with_settings(**new)  # validates names and values
            return SettingsOp(text, old, new)
        if t == "free":
            free = FreeRegion.list_from_json
            return FreeOp(text, free(rec.get("old"), shape), free(rec.get("new"), shape))
    except StateError as e:
        raise HistoryError(str(e)) from None
    raise HistoryError(f"unknown history entry type {str(t)[:40]!r}")


def state_digest(state: EditState) -> str:
    """A short fingerprint of a state (mask pixels + everything else), to check a replay."""
    rest = json.dumps(
        [[r, o.to_json()] for r, o in state.overrides]
        + [
            state.harmonizer,
            state.alpha,
            state.composite,
            [(f.ref, zlib.crc32(f.bits)) for f in state.free_regions],
        ],
        sort_keys=True,
    )
    return f"{zlib.crc32(np.ascontiguousarray(state.mask).tobytes()):08x}{zlib.crc32(rest.encode()):08x}"


@dataclass
class History:
    """The Qt-free undo stack of operations: EditSession's history, and the replay of an autosave
    (the editor's QUndoStack holds the same operations)."""

    base: EditState
    ops: list = field(default_factory=list)
    index: int = 0
    limit: int = HISTORY_LIMIT
    state: EditState | None = None

    def __post_init__(self):
        if not 0 <= self.index <= len(self.ops):
            raise HistoryError(f"history index {self.index} is outside 0..{len(self.ops)}")
        st = self.base
        for op in self.ops[: self.index]:
            st = op.transform(st, True)
        self.state = st
        self._trim()

    def _trim(self) -> None:
        while self.limit > 0 and len(self.ops) > self.limit and self.index > 0:
            self.base = self.ops.pop(0).transform(self.base, True)
            self.index -= 1

    def push(self, op: Op) -> None:
        del self.ops[self.index :]
        self.state = op.transform(self.state, True)
        self.ops.append(op)
        self.index += 1
        self._trim()

    def undo(self) -> bool:
        if self.index == 0:
            return False
        self.index -= 1
        self.state = self.ops[self.index].transform(self.state, False)
        return True

    def redo(self) -> bool:
        if self.index >= len(self.ops):
            return False
        self.state = self.ops[self.index].transform(self.state, True)
        self.index += 1
        return True

    def refs(self) -> set[str]:
        out = set(self.base.refs()) | set(self.state.refs())
        for op in self.ops:
            out |= op.refs()
        return out


def base_of(state: EditState, ops: list[Op], index: int) -> EditState:
    """The state below the whole stack: ``state`` (at ``index``) with ops[index-1..0] undone."""
    for op in reversed(ops[:index]):
        state = op.transform(state, False)
    return state
