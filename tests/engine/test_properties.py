"""Property-based tests: random and mutated inputs to image loading, mask IO, mask operations, edit
states, session files and edit scripts raise nothing but the documented errors (docs/BAD_INPUTS.md),
and what succeeds is well-formed and exact."""

from __future__ import annotations

import copy
import io
import json
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image

from engine import cli, maskops
from engine.bundle import load_bundle
from engine.imageio import ImageError, MaskError, load_image, load_mask, save_image
from engine.session import (
    EditSession,
    EditState,
    FaceEngine,
    Override,
    SessionFileError,
    StateError,
    read_session_file,
)
from tests.engine.session_fixtures import LayoutParser, textured_photo
from tests.engine.test_fuzz import MUTATIONS, _mutate

PROPS = settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
USER_ERRORS = cli._user_errors()
JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
    | st.sampled_from(["../x.png", "/etc/passwd", "hair", "#ff0000", "", "a" * 300]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)


@pytest.fixture(scope="module")
def world(tmp_path_factory, tiny_bundle):
    d = tmp_path_factory.mktemp("props")
    save_image(d / "photo.png", textured_photo(72, 80, 1))
    save_image(d / "ref.png", textured_photo(70, 70, 2))
    engine = FaceEngine(load_bundle(tiny_bundle, device="cpu"), parser=LayoutParser())
    s = EditSession(engine, engine.prepare(d / "photo.png"))
    s.transfer(str(d / "ref.png"), ["hair"])
    s.tune("skin", 3, 1.0)
    s.paint_rect(2, 2, 12, 12, 14)
    s.save(d / "good.json")
    rgb = textured_photo(40, 44, 3)
    images = {}
    for fmt, kw in (
        ("PNG", {}),
        ("JPEG", {"quality": 90}),
        ("BMP", {}),
        ("TIFF", {}),
        ("WEBP", {}),
        ("GIF", {}),
    ):
        buf = io.BytesIO()
        Image.fromarray(rgb).save(buf, format=fmt, **kw)
        images[fmt] = buf.getvalue()
    return {
        "dir": d,
        "engine": engine,
        "prepared": s.prepared,
        "doc": json.loads((d / "good.json").read_text()),
        "images": images,
    }


# ------------------------------------------------------------------------------------------ images
@PROPS
@given(fmt=st.sampled_from(["PNG", "JPEG", "BMP", "TIFF", "WEBP", "GIF"]), edits=MUTATIONS)
def test_mutated_images_load_or_fail_with_image_error(world, fmt, edits):
    p = world["dir"] / f"mutated.{fmt.lower()}"
    p.write_bytes(_mutate(world["images"][fmt], edits))
    try:
        img = load_image(p)
    except ImageError as e:
        assert p.name in str(e)
        return
    assert img.rgb.dtype == np.uint8 and img.rgb.ndim == 3 and img.rgb.shape[2] == 3
    assert min(img.rgb.shape[:2]) >= 16


@PROPS
@given(
    magic=st.sampled_from([b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0", b"BM", b"II*\x00", b"RIFF", b"GIF89a"]),
    tail=st.binary(max_size=600),
)
def test_random_bytes_behind_image_signatures(world, magic, tail):
    p = world["dir"] / "magic.img"
    p.write_bytes(magic + tail)
    with pytest.raises(ImageError):
        load_image(p)


def _forged(fmt: str, w: int, h: int) -> bytes:
    import struct
    import zlib

    if fmt == "PNG":
        ihdr = b"IHDR" + struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
        return (
            b"\x89PNG\r\n\x1a\n"
            + struct.pack(">I", 13)
            + ihdr
            + struct.pack(">I", zlib.crc32(ihdr))
            + b"\x00\x00\x00\x00IEND\xaeB`\x82"
        )
    if fmt == "BMP":
        info = struct.pack("<IiiHHIIiiII", 40, w, h, 1, 24, 0, 0, 2835, 2835, 0, 0)
        return b"BM" + struct.pack("<IHHI", 54 + len(info), 0, 0, 54) + info
    return (
        b"GIF89a"
        + struct.pack("<HHBBB", w, h, 0, 0, 0)
        + b",\x00\x00\x00\x00"
        + struct.pack("<HH", w, h)
        + b"\x00\x02\x02D\x01\x00;"
    )


@settings(max_examples=40, deadline=None, derandomize=True)
@given(
    fmt=st.sampled_from(["PNG", "BMP", "GIF"]), w=st.integers(11_000, 65_535), h=st.integers(10_000, 65_535)
)
def test_pixel_limit_is_checked_before_decoding(world, fmt, w, h):
    p = world["dir"] / f"bomb.{fmt.lower()}"
    p.write_bytes(_forged(fmt, w, h))
    t0 = time.perf_counter()
    with pytest.raises(ImageError, match="megapixels|corrupt|not an image"):
        load_image(p)
    assert time.perf_counter() - t0 < 1.0, "refused from the header, without allocating the pixels"


# ------------------------------------------------------------------------------------------- masks
@PROPS
@given(
    mask=arrays(np.uint8, st.tuples(st.integers(1, 24), st.integers(1, 24)), elements=st.integers(0, 40)),
    mode=st.sampled_from(["L", "I;16", "RGB", "P"]),
    edits=st.none() | MUTATIONS,
)
def test_mask_files_load_as_ids_or_fail_with_mask_error(world, mask, mode, edits):
    buf = io.BytesIO()
    img = Image.fromarray(mask, "L")
    (img.convert(mode) if mode != "I;16" else Image.fromarray(mask.astype(np.uint16))).save(buf, format="PNG")
    p = world["dir"] / "mask.png"
    p.write_bytes(buf.getvalue() if edits is None else _mutate(buf.getvalue(), edits))
    try:
        m = load_mask(p, mask.shape if edits is None else None)
    except MaskError as e:
        assert "mask" in str(e)
        return
    assert m.dtype == np.uint8 and m.ndim == 2 and int(m.max()) < 19
    if edits is None and mode in ("L", "I;16"):
        assert np.array_equal(m, mask)


MASKS = arrays(np.uint8, st.tuples(st.integers(1, 20), st.integers(1, 20)), elements=st.integers(0, 18))
COORD = st.floats(-40, 60) | st.sampled_from([float("nan"), float("inf"), -1e9, 1e9])
POINTS = st.lists(st.tuples(COORD, COORD), max_size=6)


def _check_delta(mask, d, label):
    assert isinstance(d, maskops.MaskDelta)
    after = d.apply(mask)
    assert np.array_equal(d.revert(after), mask), "a delta undoes exactly"
    changed = after != mask
    if changed.any():
        y0, y1, x0, x1 = d.box
        ys, xs = np.nonzero(changed)
        assert y0 <= ys.min() and ys.max() < y1 and x0 <= xs.min() and xs.max() < x1
        assert (after[changed] == label).all()


@PROPS
@given(
    mask=MASKS,
    pts=POINTS,
    radius=st.floats(allow_nan=True, allow_infinity=True) | st.integers(-3, 9000),
    label=st.integers(-3, 25),
    op=st.sampled_from(["brush", "polygon", "rect", "fill"]),
)
def test_mask_operations_raise_only_mask_op_error(mask, pts, radius, label, op):
    try:
        if op == "brush":
            d = maskops.brush(mask, pts, radius, label)
        elif op == "polygon":
            d = maskops.polygon(mask, pts, label)
        elif op == "rect":
            assume(len(pts) >= 2 and all(np.isfinite(pts[0] + pts[1])))
            d = maskops.rectangle(mask, *pts[0], *pts[1], label)
        else:  # maskops.flood_fill takes finite coordinates (the session checks them first)
            assume(pts and all(np.isfinite(pts[0])))
            d = maskops.flood_fill(mask, *pts[0], label)
    except maskops.MaskOpError as e:
        assert str(e)
        return
    _check_delta(mask, d, label)


ARITY = {"paint_brush": 3, "fill": 3, "paint_polygon": 2, "paint_rect": 5}
ARG = JSON | COORD | st.integers(-30, 90) | POINTS | st.lists(st.lists(COORD, max_size=3), max_size=4)


@PROPS
@given(op=st.sampled_from(sorted(ARITY)), args=st.lists(ARG, min_size=5, max_size=5))
def test_session_mask_edits_raise_only_documented_errors(world, op, args):
    s = EditSession(world["engine"], world["prepared"])
    before = s.state
    try:
        getattr(s, op)(*args[: ARITY[op]])
    except (StateError, maskops.MaskOpError) as e:
        assert str(e)
        assert s.state is before, "a refused edit changes nothing"
    else:
        assert s.state.mask.shape == before.mask.shape and int(s.state.mask.max()) < 19


# -------------------------------------------------------------------------------------- edit state
OVERRIDES = st.one_of(
    st.builds(lambda r: Override("reference", ref=r), st.text("0123456789abcdef", min_size=1, max_size=16)),
    st.builds(lambda c: Override("color", rgb=c), st.tuples(*[st.integers(0, 255)] * 3)),
    st.builds(lambda s: Override("random", seed=s), st.integers(0, 2**31 - 1)),
    st.builds(lambda s, e: Override("own", tune_seed=s, tune_eta=e), st.integers(0, 99), st.floats(-10, 10)),
)


@PROPS
@given(
    mask=MASKS,
    ovs=st.dictionaries(st.integers(0, 18), OVERRIDES, max_size=5),
    harm=st.sampled_from(["mrsa", "msca", "off"]),
    alpha=st.floats(0, 2),
)
def test_edit_state_json_round_trip_is_exact(mask, ovs, harm, alpha):
    s = EditState(mask=mask, overrides=tuple(ovs.items()), harmonizer=harm, alpha=alpha)
    back = EditState.from_json(json.loads(json.dumps(s.to_json())), mask.shape)
    assert back.same_as(s)


def _paths(doc, prefix=()):
    yield prefix
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from _paths(v, prefix + (i,))


def _replace(doc, path, value):
    doc = copy.deepcopy(doc)
    if not path:
        return value
    node = doc
    for k in path[:-1]:
        node = node[k]
    node[path[-1]] = value
    return doc


@PROPS
@given(pick=st.integers(0, 10**6), value=JSON)
def test_edit_state_with_a_replaced_field_raises_only_state_error(world, pick, value):
    state = world["doc"]["state"]
    paths = list(_paths(state))
    try:
        EditState.from_json(_replace(state, paths[pick % len(paths)], value), (64, 64))
    except StateError as e:
        assert str(e)


# ----------------------------------------------------------------------------- session files
@PROPS
@given(pick=st.integers(0, 10**6), value=JSON, drop=st.booleans())
def test_session_files_with_a_replaced_field_raise_only_session_file_error(world, pick, value, drop):
    doc = world["doc"]
    paths = list(_paths(doc))
    path = paths[pick % len(paths)]
    if drop and path and isinstance(path[-1], str):
        bad = copy.deepcopy(doc)
        node = bad
        for k in path[:-1]:
            node = node[k]
        del node[path[-1]]
    else:
        bad = _replace(doc, path, value)
    p = world["dir"] / "replaced.json"
    p.write_text(json.dumps(bad, allow_nan=True))
    try:
        prep, state = read_session_file(p, world["engine"])
    except SessionFileError as e:
        assert str(e) and "\n" not in str(e)
        return
    assert state.mask.shape == (64, 64) and prep.parsed_mask.shape == (64, 64)


@PROPS
@given(
    op=st.sampled_from(
        [
            "mask",
            "transfer",
            "swap",
            "color",
            "random",
            "tune",
            "interp",
            "harmonize",
            "composite",
            "brush",
            "fill",
            "polygon",
            "rect",
            "reset",
            "teleport",
        ]
    ),
    fields=st.dictionaries(
        st.sampled_from(
            [
                "path",
                "ref",
                "region",
                "regions",
                "color",
                "seed",
                "eta",
                "t",
                "mode",
                "alpha",
                "points",
                "radius",
                "label",
                "x",
                "y",
                "box",
            ]
        ),
        JSON,
        max_size=5,
    ),
)
def test_script_edits_raise_only_user_errors(world, op, fields):
    s = EditSession(world["engine"], world["prepared"])
    try:
        cli.apply_edit(s, {"op": op, **fields}, world["dir"])
    except USER_ERRORS as e:
        assert str(e)
