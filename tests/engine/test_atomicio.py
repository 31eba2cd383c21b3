"""engine.atomicio.atomic_write: all or nothing, and one clear error type naming the file."""

from __future__ import annotations

import os
import stat
import tempfile

import pytest

from engine.atomicio import atomic_write


class SaveError(Exception):
    pass


def _leftovers(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


@pytest.mark.parametrize(
    "payload, expected",
    [(b"\x00\x01bytes", b"\x00\x01bytes"), ("tëxt\n", "tëxt\n".encode()), (lambda f: f.write(b"cb"), b"cb")],
)
def test_bytes_text_and_callback_payloads(tmp_path, payload, expected):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    atomic_write(target, payload, "thing", SaveError)
    assert target.read_bytes() == expected
    assert _leftovers(tmp_path) == []
    umask = os.umask(0o022)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask  # not mkstemp's 0600


def test_a_failing_callback_keeps_the_old_file_and_leaves_no_temp_file(tmp_path):
    target = tmp_path / "out.json"
    target.write_text("old")

    def write(f):
        f.write(b"half of the new")
        raise OSError(28, "No space left on device")

    with pytest.raises(SaveError, match=r"cannot save thing to .*out\.json: No space left on device"):
        atomic_write(target, write, "thing", SaveError)
    assert target.read_text() == "old"
    assert _leftovers(tmp_path) == []


def test_the_callers_own_error_and_other_exceptions_pass_through(tmp_path):
    target = tmp_path / "out"
    for exc in (SaveError("already a clear message"), KeyboardInterrupt()):
        def write(f, exc=exc):
            raise exc

        with pytest.raises(type(exc)) as info:
            atomic_write(target, write, "thing", SaveError)
        assert info.value is exc
    assert not target.exists() and _leftovers(tmp_path) == []


def test_a_missing_folder_raises_the_given_error_naming_the_path(tmp_path):
    target = tmp_path / "missing" / "out.png"
    with pytest.raises(SaveError) as info:
        atomic_write(target, b"x", "mask", SaveError)
    assert str(target) in str(info.value) and "does not exist" in str(info.value)
    assert not (tmp_path / "missing").exists()  # folders are not created


def test_a_folder_as_target_is_refused(tmp_path):
    with pytest.raises(SaveError, match="it is a folder"):
        atomic_write(tmp_path, b"x", "mask", SaveError)


def test_a_readonly_folder_raises_the_given_error_naming_the_path(tmp_path, monkeypatch):
    target = tmp_path / "out.png"
    if os.geteuid() == 0:  # root ignores folder permissions: make the temp file fail as it would
        def refuse(*a, **k):
            raise PermissionError(13, "Permission denied")

        monkeypatch.setattr(tempfile, "mkstemp", refuse)
    else:
        tmp_path.chmod(0o500)
    try:
        with pytest.raises(SaveError) as info:
            atomic_write(target, b"x", "image", SaveError)
    finally:
        tmp_path.chmod(0o700)
    msg = str(info.value)
    assert str(target) in msg and "not writable" in msg and "Permission denied" in msg
    assert not target.exists()


def test_a_failing_rename_removes_the_temp_file(tmp_path, monkeypatch):
    target = tmp_path / "out"
    target.write_bytes(b"old")

    def fail(src, dst):
        raise OSError(18, "Invalid cross-device link")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(SaveError, match="Invalid cross-device link"):
        atomic_write(target, b"new", "thing", SaveError, sync=False)
    assert target.read_bytes() == b"old" and _leftovers(tmp_path) == []
