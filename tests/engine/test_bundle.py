"""Bundle format: bit-exact round trip, weights-only loading, and clear errors naming the file."""

import json
import pickle
import shutil

import pytest
import torch

from engine.bundle import BundleError, load_bundle, save_bundle, select_device
from tests.conftest import build_tiny_nets


def _copy(tiny_bundle, tmp_path):
    dst = tmp_path / "b"
    shutil.copytree(tiny_bundle, dst)
    return dst


def test_round_trip_is_bit_exact(tmp_path):
    nets = build_tiny_nets(seed=3)
    save_bundle(tmp_path / "b", nets, resolution=64)
    b = load_bundle(tmp_path / "b", device="cpu")
    assert set(b.nets) == set(nets)
    for name, net in nets.items():
        a, c = net.state_dict(), b.nets[name].state_dict()
        assert a.keys() == c.keys()
        for k in a:
            assert torch.equal(a[k].cpu(), c[k].cpu()), f"{name}.{k} changed"
        assert b.nets[name].cfg == net.cfg
    assert b.resolution == 64 and not b.nets["encoder"].training


def test_pickle_file_is_refused(tmp_path, tiny_bundle):
    p = tmp_path / "model.pth"
    p.write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(BundleError, match="never loads pickles"):
        load_bundle(p)
    d = _copy(tiny_bundle, tmp_path)
    (d / "encoder.pt").write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(BundleError, match="encoder.pt"):
        load_bundle(d)


def test_truncated_safetensors_names_the_file(tmp_path, tiny_bundle):
    d = _copy(tiny_bundle, tmp_path)
    f = d / "generator.safetensors"
    f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
    with pytest.raises(BundleError, match="generator.safetensors"):
        load_bundle(d)


def test_missing_network_is_named(tmp_path, tiny_bundle):
    d = _copy(tiny_bundle, tmp_path)
    (d / "mrsa.safetensors").unlink()
    with pytest.raises(BundleError, match="mrsa.safetensors"):
        load_bundle(d)
    (d / "mrsa.json").unlink()
    with pytest.raises(BundleError, match="mrsa.json"):
        load_bundle(d)


def test_bundle_without_a_network_says_what_needs_it(tmp_path):
    nets = build_tiny_nets()
    del nets["rsm"]
    save_bundle(tmp_path / "b", nets, resolution=64)
    b = load_bundle(tmp_path / "b", device="cpu")
    with pytest.raises(BundleError, match="'rsm'.*random region styles"):
        b.get("rsm")


def test_mismatched_weights_and_config(tmp_path, tiny_bundle):
    d = _copy(tiny_bundle, tmp_path)
    shutil.copy(d / "generator.safetensors", d / "parser.safetensors")
    with pytest.raises(BundleError, match="parser.safetensors does not match"):
        load_bundle(d)


@pytest.mark.parametrize(
    "edit,match",
    [
        (lambda m: m.update(format_version=99), "version 99"),
        (lambda m: m.update(format="other"), "not a FacePaint bundle"),
        (lambda m: m.update(resolution=100), "multiple of 32"),
        (lambda m: m.update(networks={}), "lists no networks"),
        (lambda m: m["labels"].update(names=["a"]), "label schema"),
    ],
)
def test_bad_bundle_json(tmp_path, tiny_bundle, edit, match):
    d = _copy(tiny_bundle, tmp_path)
    meta = json.loads((d / "bundle.json").read_text())
    edit(meta)
    (d / "bundle.json").write_text(json.dumps(meta))
    with pytest.raises(BundleError, match=match):
        load_bundle(d)


def test_malformed_json_and_unknown_type(tmp_path, tiny_bundle):
    d = _copy(tiny_bundle, tmp_path)
    (d / "encoder.json").write_text("{not json")
    with pytest.raises(BundleError, match="encoder.json is not valid JSON"):
        load_bundle(d)
    (d / "encoder.json").write_text(json.dumps({"type": "os.system", "config": {}}))
    with pytest.raises(BundleError, match="unknown network type"):
        load_bundle(d)
    (d / "encoder.json").write_text(json.dumps({"type": "StyleEncoder", "config": {"bogus": 1}}))
    with pytest.raises(BundleError, match="unknown config fields"):
        load_bundle(d)


def test_missing_folder(tmp_path):
    with pytest.raises(BundleError, match="does not exist"):
        load_bundle(tmp_path / "nope")


def test_device_choice_explains_itself():
    c = select_device("cpu")
    assert c.device.type == "cpu" and "CPU" in c.reason
    with pytest.raises(BundleError):
        select_device("tpu")
