"""Checkpoints without pickle: tensors in safetensors, everything else in JSON. Plus the EMA helper.

A checkpoint is a folder ``<out>/checkpoints/step_<N>/``::

    model.safetensors   every saved network's state dict ("<net>.<key>") and the EMA copies ("ema.<net>.<key>")
    optim.safetensors   optimiser tensors ("<optimiser>.<param index>.<state key>")
    rng.safetensors     torch CPU / CUDA generator states
    state.json          step, optimiser hyper-parameters and scalar state, grad-scaler state, numpy and
                        Python RNG states, the data position, stage extras, wall time so far
    config.json         the run's config (the same file as <out>/config.json)

The folder is written under a temporary name and renamed, then ``latest.txt`` points at it, so a run
killed mid-save never leaves a half checkpoint as the newest one.
"""

from __future__ import annotations

import copy
import json
import os
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from engine.atomicio import atomic_write

__all__ = ["EMA", "save_checkpoint", "load_checkpoint", "latest_checkpoint", "CheckpointError"]


class CheckpointError(RuntimeError):
    """A checkpoint folder that is missing, incomplete or does not match the run."""


class EMA:
    """Exponential moving averages of whole modules (parameters averaged, buffers copied)."""

    def __init__(self, modules: dict[str, nn.Module], decay: float) -> None:
        self.decay = float(decay)
        self.shadow = {n: copy.deepcopy(m).eval().requires_grad_(False) for n, m in modules.items()}

    @torch.no_grad()
    def update(self, modules: dict[str, nn.Module], step: int) -> None:
        # Short warm-up so the average does not drag the random initialisation along for long.
        d = min(self.decay, (1.0 + step) / (10.0 + step))
        for name, shadow in self.shadow.items():
            src = modules[name]
            for s, p in zip(shadow.parameters(), src.parameters(), strict=True):
                s.lerp_(p.detach(), 1.0 - d)
            for s, b in zip(shadow.buffers(), src.buffers(), strict=True):
                s.copy_(b)


def _tensor_state(prefix: str, module: nn.Module) -> dict[str, torch.Tensor]:
    return {f"{prefix}{k}": v.detach().to("cpu").contiguous().clone() for k, v in module.state_dict().items()}


def _split_optimizer(name: str, opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    sd = opt.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for idx, st in sd["state"].items():
        for key, value in st.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{name}.{idx}.{key}"] = value.detach().to("cpu").contiguous().clone()
            else:
                scalars.setdefault(str(idx), {})[key] = value
    groups = []
    for g in sd["param_groups"]:
        groups.append({k: (list(v) if isinstance(v, tuple) else v) for k, v in g.items()})
    return tensors, {"param_groups": groups, "scalars": scalars}


def _join_optimizer(name: str, tensors: dict[str, torch.Tensor], meta: dict) -> dict:
    state: dict[int, dict[str, Any]] = {}
    prefix = f"{name}."
    for key, value in tensors.items():
        if not key.startswith(prefix):
            continue
        idx, skey = key[len(prefix) :].split(".", 1)
        state.setdefault(int(idx), {})[skey] = value
    for idx, st in meta.get("scalars", {}).items():
        state.setdefault(int(idx), {}).update(st)
    groups = []
    for g in meta["param_groups"]:
        g = dict(g)
        if isinstance(g.get("betas"), list):
            g["betas"] = tuple(g["betas"])
        groups.append(g)
    return {"state": state, "param_groups": groups}


def _rng_state() -> tuple[dict[str, torch.Tensor], dict]:
    tensors = {"torch_cpu": torch.get_rng_state().clone()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for i, st in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"cuda.{i}"] = st.clone()
    name, keys, pos, has_gauss, cached = np.random.get_state()
    py = random.getstate()
    meta = {
        "numpy": [name, keys.tolist(), int(pos), int(has_gauss), float(cached)],
        "python": [py[0], list(py[1]), py[2]],
    }
    return tensors, meta


def _set_rng_state(tensors: dict[str, torch.Tensor], meta: dict) -> None:
    if "torch_cpu" in tensors:
        torch.set_rng_state(tensors["torch_cpu"])
    cuda = sorted(k for k in tensors if k.startswith("cuda."))
    if cuda and torch.cuda.is_available():
        states = [tensors[k] for k in cuda][: torch.cuda.device_count()]
        torch.cuda.set_rng_state_all(states)
    if "numpy" in meta:
        name, keys, pos, has_gauss, cached = meta["numpy"]
        np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    if "python" in meta:
        v, st, g = meta["python"]
        random.setstate((v, tuple(st), g))


def latest_checkpoint(out: str | Path) -> Path | None:
    """The newest complete checkpoint folder under ``<out>/checkpoints``, or None."""
    root = Path(out) / "checkpoints"
    pointer = root / "latest.txt"
    if pointer.is_file():
        cand = root / pointer.read_text(encoding="utf-8").strip()
        if (cand / "state.json").is_file():
            return cand
    done = sorted(p for p in root.glob("step_*") if (p / "state.json").is_file()) if root.is_dir() else []
    return done[-1] if done else None


def save_checkpoint(
    out: str | Path,
    step: int,
    *,
    nets: dict[str, nn.Module],
    optimizers: dict[str, torch.optim.Optimizer],
    ema: EMA | None,
    scaler: Any,
    config: dict,
    extra: dict | None = None,
    data_position: dict | None = None,
    keep: int = 2,
) -> Path:
    root = Path(out) / "checkpoints"
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step_{step:08d}"
    tmp = root / f".tmp_step_{step:08d}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    model: dict[str, torch.Tensor] = {}
    for name, net in nets.items():
        model.update(_tensor_state(f"{name}.", net))
    if ema is not None:
        for name, net in ema.shadow.items():
            model.update(_tensor_state(f"ema.{name}.", net))
    save_file(model, str(tmp / "model.safetensors"))
    optim_t: dict[str, torch.Tensor] = {}
    optim_meta: dict[str, dict] = {}
    for name, opt in optimizers.items():
        t, m = _split_optimizer(name, opt)
        optim_t.update(t)
        optim_meta[name] = m
    save_file(optim_t, str(tmp / "optim.safetensors"))
    rng_t, rng_meta = _rng_state()
    save_file(rng_t, str(tmp / "rng.safetensors"))
    state = {
        "step": int(step),
        "data_position": data_position or {"next_step": int(step)},
        "optimizers": optim_meta,
        "scaler": scaler.state_dict() if scaler is not None else None,
        "rng": rng_meta,
        "extra": extra or {},
    }
    (tmp / "state.json").write_text(json.dumps(state) + "\n", encoding="utf-8")
    (tmp / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    atomic_write(root / "latest.txt", final.name + "\n", "the latest-checkpoint pointer", CheckpointError)
    if keep > 0:
        for old in sorted(root.glob("step_*"))[:-keep]:
            if old != final:
                shutil.rmtree(old, ignore_errors=True)
    return final


def load_checkpoint(
    path: str | Path,
    *,
    nets: dict[str, nn.Module],
    optimizers: dict[str, torch.optim.Optimizer],
    ema: EMA | None,
    scaler: Any,
    restore_rng: bool = True,
) -> dict:
    """Load a checkpoint folder into the given objects; returns ``state.json`` (step, extras, ...)."""
    folder = Path(path)
    for fname in ("model.safetensors", "optim.safetensors", "rng.safetensors", "state.json"):
        if not (folder / fname).is_file():
            raise CheckpointError(f"checkpoint {folder} is incomplete: {fname} is missing")
    try:
        state = json.loads((folder / "state.json").read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{folder / 'state.json'} is not valid JSON: {e}") from None
    model = load_file(str(folder / "model.safetensors"))
    groups: dict[str, dict[str, dict[str, torch.Tensor]]] = {"": {}, "ema.": {}}
    for key, value in model.items():
        prefix = "ema." if key.startswith("ema.") else ""
        net, sub = key[len(prefix) :].split(".", 1)
        groups[prefix].setdefault(net, {})[sub] = value
    targets = [("", nets)] + ([("ema.", ema.shadow)] if ema is not None else [])
    for prefix, mods in targets:
        for name, net in mods.items():
            sd = groups[prefix].get(name)
            if sd is None:
                raise CheckpointError(f"checkpoint {folder} has no weights for '{prefix}{name}'")
            try:
                net.load_state_dict(sd, strict=True)
            except RuntimeError as e:
                raise CheckpointError(f"checkpoint {folder}: '{prefix}{name}' does not match: {e}") from None
    optim_t = load_file(str(folder / "optim.safetensors"))
    for name, opt in optimizers.items():
        meta = state["optimizers"].get(name)
        if meta is None:
            raise CheckpointError(f"checkpoint {folder} has no state for optimiser '{name}'")
        opt.load_state_dict(_join_optimizer(name, optim_t, meta))
    if scaler is not None and state.get("scaler"):
        scaler.load_state_dict(state["scaler"])
    if restore_rng:
        _set_rng_state(load_file(str(folder / "rng.safetensors")), state.get("rng", {}))
    return state
