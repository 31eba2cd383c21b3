"""The headless CLI end to end with a tiny bundle: outputs, and one-line errors with nothing partial."""

import json
import os

import numpy as np
import pytest

from engine import cli
from engine.imageio import load_image, save_image, save_mask
from tests.engine.session_fixtures import face_layout, textured_photo


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    save_image(d / "photo.jpg", textured_photo(160, 200, 3))
    save_image(d / "ref.png", textured_photo(120, 120, 4))
    save_mask(d / "layout.png", face_layout(64))
    (d / "notes.png").write_text("this is not an image")
    (d / "empty.jpg").write_bytes(b"")
    return d


def run(args, capsys):
    code = cli.main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_edit_end_to_end(files, tmp_path, tiny_bundle, capsys):
    out = tmp_path / "out.png"
    code, _, err = run(["edit", files / "photo.jpg", "-o", out, "--bundle", tiny_bundle,
                        "--mask", files / "layout.png", "--color", "hair=#3050ff", "--random", "u_lip:4",
                        "--tune", "skin:1:1.5", "--harmonize", "mrsa", "--alpha", "0.5",
                        "--save-mask", tmp_path / "m.png", "--save-session", tmp_path / "s.json"], capsys)
    assert code == 0, err
    res = load_image(out).rgb
    src = load_image(files / "photo.jpg").rgb
    assert res.shape == src.shape and np.any(res != src)
    assert (tmp_path / "m.png").exists() and (tmp_path / "s.json").exists()


def test_script_and_batch(files, tmp_path, tiny_bundle, capsys):
    script = tmp_path / "edits.json"
    script.write_text(json.dumps({"edits": [
        {"op": "mask", "path": str(files / "layout.png")},
        {"op": "color", "region": "hair", "color": "#00ff00"},
        {"op": "brush", "points": [[5, 5], [20, 5]], "radius": 2, "label": 14},
    ]}))
    out = tmp_path / "o.png"
    code, _, err = run(["edit", files / "photo.jpg", "-o", out, "--bundle", tiny_bundle, "--script", script],
                       capsys)
    assert code == 0, err and out.exists()
    src = tmp_path / "in"
    src.mkdir()
    save_image(src / "a.png", textured_photo(100, 100, 8))
    (src / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    code, out_text, err = run(["edit", src, "-o", tmp_path / "batch", "--batch", "--bundle", tiny_bundle,
                               "--random", "skin:2"], capsys)
    assert code == cli.EXIT_ERROR and "broken.png" in err
    assert (tmp_path / "batch" / "a.png").exists() and not (tmp_path / "batch" / "broken.png").exists()


def test_parse_command(files, tmp_path, tiny_bundle, capsys):
    code, _, err = run(["parse", files / "photo.jpg", "-o", tmp_path / "mask.png", "--vis", tmp_path / "v.png",
                        "--bundle", tiny_bundle], capsys)
    assert code == 0, err
    assert (tmp_path / "mask.png").exists() and (tmp_path / "v.png").exists()


BAD = [
    (["{photo}", "--color", "hair=#zzzzzz"], "colour"),
    (["{photo}", "--color", "tail=#ffffff"], "unknown region"),
    (["{photo}", "--random", "hair:x"], "integer"),
    (["{photo}", "--tune", "hair:1"], "REGION:SEED:ETA"),
    (["{photo}", "--interp", "hair={ref}"], "REGION=REF:T"),
    (["{dir}/notes.png"], "notes.png"),
    (["{dir}/empty.jpg"], "empty.jpg"),
    (["{dir}/missing.jpg"], "missing.jpg"),
    (["{photo}", "--transfer", "hair={dir}/missing.jpg"], "missing.jpg"),
    (["{photo}", "--mask", "{photo}"], "mask"),
    (["{photo}", "--script", "{dir}/notes.png"], "not valid JSON"),
    (["{photo}", "--crop", "1,2"], "X,Y,SIZE"),
    (["{photo}", "--crop", "10,10,-5"], "must be positive"),
]


@pytest.mark.parametrize("args,msg", BAD)
def test_bad_input_is_one_clear_line_and_no_output(files, tmp_path, tiny_bundle, capsys, args, msg):
    out = tmp_path / "out.png"
    fmt = {"photo": files / "photo.jpg", "dir": files, "ref": files / "ref.png"}
    argv = ["edit"] + [a.format(**fmt) for a in args] + ["-o", out, "--bundle", tiny_bundle]
    code, _, err = run(argv, capsys)
    assert code == cli.EXIT_ERROR
    assert msg.lower() in err.lower(), err
    assert err.count("\n") == 1 and err.startswith("facepaint: error:")
    assert not out.exists() and not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


def test_missing_bundle_and_unwritable_folder(files, tmp_path, tiny_bundle, capsys):
    code, _, err = run(["edit", files / "photo.jpg", "-o", tmp_path / "o.png", "--bundle", tmp_path / "nope"],
                       capsys)
    assert code == cli.EXIT_ERROR and "does not exist" in err
    code, _, err = run(["edit", files / "photo.jpg", "-o", tmp_path / "no" / "dir" / "o.png", "--bundle",
                        tiny_bundle], capsys)
    assert code == cli.EXIT_ERROR and "does not exist" in err


def test_hand_placed_crop_and_raw_composite(files, tmp_path, tiny_bundle, capsys):
    out = tmp_path / "o.png"
    code, _, err = run(["edit", files / "photo.jpg", "-o", out, "--bundle", tiny_bundle, "--crop", "100,80,90",
                        "--mask", files / "layout.png", "--color", "hair=#ff0000", "--composite", "raw"], capsys)
    assert code == 0, err
    res, src = load_image(out).rgb, load_image(files / "photo.jpg").rgb
    changed = np.argwhere(np.any(res != src, axis=2))
    assert changed.size and changed[:, 1].min() >= 100 - 46 and changed[:, 1].max() <= 100 + 46


def test_parse_writes_the_photos_frame_and_edit_takes_either(files, tmp_path, tiny_bundle, capsys):
    from engine.imageio import load_mask

    photo = load_image(files / "photo.jpg").rgb
    code, _, err = run(["parse", files / "photo.jpg", "-o", tmp_path / "full.png", "--vis", tmp_path / "v.png",
                        "--bundle", tiny_bundle], capsys)
    assert code == 0, err
    full = load_mask(tmp_path / "full.png")
    assert full.shape == photo.shape[:2] and load_image(tmp_path / "v.png").rgb.shape == photo.shape
    code, _, err = run(["parse", files / "photo.jpg", "-o", tmp_path / "crop.png", "--frame", "crop",
                        "--bundle", tiny_bundle], capsys)
    assert code == 0 and load_mask(tmp_path / "crop.png").shape == (64, 64)
    for mask, frame in ((tmp_path / "full.png", "photo (200×160)"), (tmp_path / "crop.png", "aligned crop (64×64, enlarged to 128)")):
        code, _, err = run(["edit", files / "photo.jpg", "-o", tmp_path / "o.png", "--bundle", tiny_bundle,
                            "--mask", mask, "--composite", "raw"], capsys)
        assert code == 0 and f"taken as a mask of the {frame}" in err, err
    save_mask(tmp_path / "odd.png", np.zeros((10, 12), np.uint8))
    code, _, err = run(["edit", files / "photo.jpg", "-o", tmp_path / "o2.png", "--bundle", tiny_bundle,
                        "--mask", tmp_path / "odd.png"], capsys)
    assert code == cli.EXIT_ERROR and "photo's size (200×160)" in err and "crop's (64×64)" in err


def test_parse_mask_follows_the_exif_orientation(tmp_path, tiny_bundle, capsys):
    from PIL import Image

    from engine.imageio import load_mask

    stored = textured_photo(120, 200, 5)  # stored 200 wide, 120 high; shown rotated: 120 wide, 200 high
    im = Image.fromarray(stored)
    exif = im.getexif()
    exif[0x0112] = 6
    path = tmp_path / "rotated.jpg"
    im.save(path, "JPEG", quality=95, exif=exif.tobytes())
    code, _, err = run(["parse", path, "-o", tmp_path / "m.png", "--bundle", tiny_bundle], capsys)
    assert code == 0, err
    assert load_mask(tmp_path / "m.png").shape == (200, 120) == load_image(path).rgb.shape[:2]
