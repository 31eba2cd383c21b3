"""Fuzzing the parsers of untrusted files (hypothesis over bytes, bounded: a few hundred examples each).

Whatever the bytes, reading a session file raises nothing but SessionFileError, and reading and applying
an edit script nothing but the CLI's user errors (one clear line, exit status 2).
"""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import cli
from engine.bundle import load_bundle
from engine.imageio import save_image, save_mask
from engine.session import EditSession, FaceEngine, SessionFileError, read_session_file
from tests.engine.session_fixtures import LayoutParser, face_layout, textured_photo

FUZZ = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
USER_ERRORS = cli._user_errors()


@pytest.fixture(scope="module")
def world(tmp_path_factory, tiny_bundle):
    d = tmp_path_factory.mktemp("fuzz")
    save_image(d / "photo.png", textured_photo(72, 80, 1))
    save_image(d / "ref.png", textured_photo(70, 70, 2))
    save_mask(d / "mask.png", face_layout(64))
    engine = FaceEngine(load_bundle(tiny_bundle, device="cpu"), parser=LayoutParser())
    s = EditSession(engine, engine.prepare(d / "photo.png"))
    s.transfer(str(d / "ref.png"), ["hair"])
    s.color("u_lip", "#aa2020")
    s.paint_rect(2, 2, 12, 12, 14)
    s.save(d / "good.json")
    script = {
        "edits": [
            {"op": "mask", "path": "mask.png"},
            {"op": "transfer", "regions": ["hair"], "ref": "ref.png"},
            {"op": "color", "region": "u_lip", "color": "#00ff00"},
            {"op": "brush", "points": [[5, 5], [20, 5]], "radius": 2, "label": 14},
            {"op": "rect", "box": [1, 1, 9, 9], "label": 3},
            {"op": "random", "region": "skin", "seed": 4},
            {"op": "harmonize", "mode": "off"},
        ]
    }
    (d / "good_script.json").write_text(json.dumps(script))
    return {
        "dir": d,
        "engine": engine,
        "prepared": s.prepared,
        "session": (d / "good.json").read_bytes(),
        "script": (d / "good_script.json").read_bytes(),
    }


def _read_session(world, data: bytes) -> None:
    p = world["dir"] / "fuzzed.json"
    p.write_bytes(data)
    try:
        read_session_file(p, world["engine"])
    except SessionFileError as e:
        assert str(e) and "\n" not in str(e)


def _run_script(world, data: bytes) -> None:
    p = world["dir"] / "fuzzed_script.json"
    p.write_bytes(data)
    try:
        edits = cli.read_script(str(p))
        session = EditSession(world["engine"], world["prepared"])
        for e in edits[:20]:
            cli.apply_edit(session, e, world["dir"])
    except USER_ERRORS as e:
        assert str(e)


def _mutate(data: bytes, edits) -> bytes:
    b = bytearray(data)
    for kind, pos, val in edits:
        if not b:
            break
        i = pos % len(b)
        if kind == 0:
            b[i] = val
        elif kind == 1:
            del b[i]
        elif kind == 2:
            b.insert(i, val)
        else:
            del b[i:]
    return bytes(b)


MUTATIONS = st.lists(
    st.tuples(st.integers(0, 3), st.integers(0, 2**31), st.integers(0, 255)), min_size=1, max_size=6
)
JSONISH = st.sampled_from(
    [
        b"{",
        b"}",
        b"[",
        b"]",
        b'"',
        b",",
        b":",
        b"null",
        b"1e999",
        b"-",
        b"9" * 5000,
        b"[" * 3000,
        b"\xff",
        b"\\u0000",
        b'"../../etc/passwd"',
        b"NaN",
        b"Infinity",
    ]
)


@FUZZ
@given(data=st.binary(max_size=2048))
def test_session_reader_on_random_bytes(world, data):
    _read_session(world, data)


@FUZZ
@given(edits=MUTATIONS)
def test_session_reader_on_mutated_sessions(world, edits):
    _read_session(world, _mutate(world["session"], edits))


@FUZZ
@given(pieces=st.lists(st.one_of(JSONISH, st.binary(max_size=16)), max_size=12), at=st.integers(0, 2**31))
def test_session_reader_on_spliced_json_tokens(world, pieces, at):
    good = world["session"]
    i = at % len(good)
    _read_session(world, good[:i] + b"".join(pieces) + good[i:])


@FUZZ
@given(data=st.binary(max_size=2048))
def test_script_reader_on_random_bytes(world, data):
    _run_script(world, data)


@FUZZ
@given(edits=MUTATIONS)
def test_script_on_mutated_scripts(world, edits):
    _run_script(world, _mutate(world["script"], edits))


@FUZZ
@given(pieces=st.lists(st.one_of(JSONISH, st.binary(max_size=16)), max_size=12), at=st.integers(0, 2**31))
def test_script_on_spliced_json_tokens(world, pieces, at):
    good = world["script"]
    i = at % len(good)
    _run_script(world, good[:i] + b"".join(pieces) + good[i:])


# ------------------------------------------------------------------- named hostile files (docs table)
def _doc(world) -> dict:
    return json.loads(world["session"])


def _png_claiming(w: int, h: int) -> str:
    import base64
    import struct
    import zlib

    ihdr = b"IHDR" + struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    raw = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + ihdr + struct.pack(">I", zlib.crc32(ihdr))
    return base64.b64encode(raw + b"\x00\x00\x00\x00IEND\xaeB`\x82").decode()


HOSTILE_SESSIONS = [
    (lambda w: b"[" * 5000 + b"]" * 5000, "nested too deeply"),
    (
        lambda w: json.dumps(
            {
                "format": "facepaint-session",
                "x": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]],
            }
        ).encode(),
        "levels deep",
    ),
    (lambda w: b'{"format": "facepaint-session", "version": 1' + b"0" * 5000 + b"}", "not valid JSON"),
    (lambda w: b'{"format": NaN}', "NaN is not allowed"),
    (lambda w: b'{"format": "\xff\xfe"}', "not UTF-8"),
    (lambda w: json.dumps({**_doc(w), "version": 2**64}).encode(), "newer FacePaint"),
    (lambda w: json.dumps({**_doc(w), "format": "facepaint-autosave"}).encode(), "not a FacePaint session"),
    (
        lambda w: json.dumps({**_doc(w), "photo": {**_doc(w)["photo"], "path": "../../photo.png"}}).encode(),
        "leaves the session's folder",
    ),
    (lambda w: json.dumps({**_doc(w), "photo": {"path": "/etc/passwd"}}).encode(), "no valid sha256"),
    (lambda w: json.dumps({**_doc(w), "photo": {**_doc(w)["photo"], "path": "/etc"}}).encode(), "folder"),
    (
        lambda w: json.dumps({**_doc(w), "photo": {**_doc(w)["photo"], "path": "a" * 5000}}).encode(),
        "not a usable file name",
    ),
    (lambda w: json.dumps({**_doc(w), "parsed": _png_claiming(60000, 60000)}).encode(), "60000×60000"),
    (
        lambda w: json.dumps({**_doc(w), "alignment": {"matrix": [[1e300, 0, 0], [0, 1, 0]]}}).encode(),
        "alignment is malformed",
    ),
    (lambda w: json.dumps({**_doc(w), "references": {str(i): {} for i in range(65)}}).encode(), "at most 64"),
    (lambda w: json.dumps({**_doc(w), "references": {}}).encode(), "not listed"),
]


@pytest.mark.parametrize("make,message", HOSTILE_SESSIONS)
def test_hostile_session_files_are_refused_clearly(world, make, message):
    p = world["dir"] / "hostile.json"
    p.write_bytes(make(world))
    with pytest.raises(SessionFileError) as ei:
        read_session_file(p, world["engine"])
    assert message in str(ei.value)


HOSTILE_EDITS = [
    ({"op": "transfer", "regions": ["hair"], "ref": "../ref.png"}, "leaves the script's folder"),
    ({"op": "mask", "path": "x\u0000y"}, "not a usable file name"),
    ({"op": "brush", "points": [[1, 2, 3]], "radius": 2, "label": 1}, "[x, y] pairs"),
    ({"op": "brush", "points": [[1, 2]], "radius": "big", "label": 1}, "brush radius must be a number"),
    ({"op": "brush", "points": [[1e300, 2]], "radius": 2, "label": 1}, "finite numbers within"),
    ({"op": "fill", "x": 1e999, "y": 2, "label": 1}, "finite number"),
    ({"op": "polygon", "points": [[1, 2], [3, 4]], "label": 1}, "at least 3 point"),
    ({"op": "rect", "box": [1, 2, 3], "label": 1}, "box [x0, y0, x1, y1]"),
    ({"op": "color", "regions": 3.5, "region": "hair", "color": "#fff"}, "bad colour"),
    ({"op": "transfer", "regions": 3.5, "ref": "ref.png"}, "regions must be"),
    ({"op": "reset", "region": "tail"}, "tail"),
    ({"op": "random", "region": "hair", "seed": -1}, "random seed"),
    ({"op": "harmonize", "mode": "best"}, "unknown harmoniser"),
    ({"op": "teleport"}, "unknown edit op"),
]


@pytest.mark.parametrize("edit,message", HOSTILE_EDITS)
def test_hostile_script_edits_are_refused_clearly(world, edit, message):
    s = EditSession(world["engine"], world["prepared"])
    with pytest.raises(USER_ERRORS) as ei:
        cli.apply_edit(s, edit, world["dir"])
    assert message in str(ei.value)


@pytest.mark.parametrize(
    "data,message",
    [
        (json.dumps({"edits": [{"op": "fill"}] * 10_001}).encode(), "more than 10000 edits"),
        (b'{"steps": []}', "must be a list of edits"),
        (b'[{"op": "fill"}, 7]', "edit 2 is not an object"),
        (b"[" * 3000, "nested too deeply"),
        (b'[{"op": "fill", "x": Infinity}]', "Infinity is not allowed"),
    ],
)
def test_hostile_scripts_are_refused_clearly(world, data, message):
    p = world["dir"] / "hostile_script.json"
    p.write_bytes(data)
    with pytest.raises(cli.CliError, match=message):
        cli.read_script(str(p))
