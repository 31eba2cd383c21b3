"""Data-parallel helpers for the training loop: process-group setup, sharding, gradient averaging.

Launched by ``torchrun`` (``WORLD_SIZE``/``RANK``/``LOCAL_RANK`` in the environment) the loop joins a
process group: NCCL on CUDA, gloo on the CPU. Each process renders its own share of every global batch
(the samples are numbered; process ``r`` takes a contiguous slice), runs forward and backward on it, and
the gradients are averaged over the processes before every optimiser step. This is the all-reduce that
``DistributedDataParallel`` does, done explicitly so that any stage (GAN stages with several optimisers,
several forward passes per step, frozen helper networks) works without DDP's restrictions on unused
parameters or repeated forwards. With mean losses over equal shards, the averaged gradient equals the
gradient of the whole global batch, so a 2-process run follows a 1-process run with the same global
batch (up to float summation order).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

__all__ = [
    "DistInfo",
    "init_distributed",
    "shutdown_distributed",
    "sample_positions",
    "average_gradients",
    "broadcast_modules",
    "all_mean",
    "any_flag",
    "mix_seed",
]


@dataclass
class DistInfo:
    rank: int
    world: int
    local_rank: int
    device: torch.device
    backend: str = ""
    owns_group: bool = False  # we created the process group, so we tear it down
    device_reason: str = ""

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world > 1


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise RuntimeError(f"environment variable {name}={raw!r} is not an integer") from None


def init_distributed(prefer: str = "auto") -> DistInfo:
    """Join the torchrun process group when ``WORLD_SIZE > 1``; otherwise pick the single device."""
    world = _env_int("WORLD_SIZE", 1)
    want_cuda = prefer in ("auto", "cuda") and torch.cuda.is_available()
    if prefer == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("--device cuda was asked for but CUDA is not available")
    if world <= 1:
        if want_cuda:
            return DistInfo(0, 1, 0, torch.device("cuda", 0), device_reason=torch.cuda.get_device_name(0))
        return DistInfo(0, 1, 0, torch.device("cpu"), device_reason=f"CPU ({os.cpu_count()} cores)")
    rank = _env_int("RANK", 0)
    local = _env_int("LOCAL_RANK", rank)
    if want_cuda:
        if local >= torch.cuda.device_count():
            raise RuntimeError(f"LOCAL_RANK {local} but only {torch.cuda.device_count()} CUDA devices")
        torch.cuda.set_device(local)
        device, backend = torch.device("cuda", local), "nccl"
        reason = torch.cuda.get_device_name(local)
    else:
        device, backend, reason = torch.device("cpu"), "gloo", f"CPU ({os.cpu_count()} cores)"
    owns = False
    if not dist.is_initialized():
        dist.init_process_group(backend=backend, rank=rank, world_size=world)
        owns = True
    return DistInfo(rank, world, local, device, backend, owns, f"{reason}, {world} processes ({backend})")


def shutdown_distributed(info: DistInfo) -> None:
    if info.owns_group and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def sample_positions(step: int, global_batch: int, rank: int, world: int, repeat: bool = False) -> list[int]:
    """Global sample numbers for ``step`` that process ``rank`` renders.

    Step ``s`` owns samples ``s*B .. s*B+B-1`` (``B`` the global batch); process ``r`` of ``w`` takes the
    ``r``-th contiguous slice of ``B/w``. With ``repeat`` every step reuses step 0's samples.
    """
    if global_batch % world:
        raise ValueError(
            f"the global batch ({global_batch}) must be divisible by the number of processes ({world})"
        )
    local = global_batch // world
    base = (0 if repeat else step) * global_batch + rank * local
    return list(range(base, base + local))


def mix_seed(*parts: int) -> int:
    """A 63-bit seed from integers (SplitMix64-style mixing, stable across runs and platforms)."""
    x = 0x9E3779B97F4A7C15
    for p in parts:
        x ^= (int(p) & 0xFFFFFFFFFFFFFFFF) + 0x9E3779B97F4A7C15 + ((x << 6) & 0xFFFFFFFFFFFFFFFF) + (x >> 2)
        x &= 0xFFFFFFFFFFFFFFFF
        z = x
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
        x = z ^ (z >> 31)
    return x & 0x7FFFFFFFFFFFFFFF


@torch.no_grad()
def broadcast_modules(modules: list[nn.Module]) -> None:
    """Copy every parameter and buffer of rank 0 to the other processes."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() < 2:
        return
    for m in modules:
        for t in list(m.parameters()) + list(m.buffers()):
            dist.broadcast(t.data, src=0)


@torch.no_grad()
def average_gradients(params: list[torch.Tensor]) -> None:
    """Average ``.grad`` over the processes (one flat all-reduce per dtype).

    A parameter with a gradient on some process but none on another (rank-dependent control flow)
    gets zeros where it was missing; parameters without gradient anywhere keep ``None``.
    """
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() < 2:
        return
    params = [p for p in params if p.requires_grad]
    if not params:
        return
    world = dist.get_world_size()
    dev = params[0].device
    has = torch.tensor([p.grad is not None for p in params], dtype=torch.float32, device=dev)
    dist.all_reduce(has, op=dist.ReduceOp.MAX)
    live = []
    for p, flag in zip(params, has.tolist(), strict=True):
        if flag > 0:
            if p.grad is None:
                p.grad = torch.zeros_like(p)
            live.append(p)
    by_dtype: dict[torch.dtype, list[torch.Tensor]] = {}
    for p in live:
        by_dtype.setdefault(p.grad.dtype, []).append(p)
    for group in by_dtype.values():
        flat = torch.cat([p.grad.reshape(-1) for p in group])
        dist.all_reduce(flat)
        flat.div_(world)
        offset = 0
        for p in group:
            n = p.grad.numel()
            p.grad.copy_(flat[offset : offset + n].view_as(p.grad))
            offset += n


def all_mean(values: dict[str, float], device: torch.device) -> dict[str, float]:
    """Average a dict of scalars over the processes (every process must pass the same keys)."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() < 2 or not values:
        return dict(values)
    keys = sorted(values)
    t = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    t /= dist.get_world_size()
    return dict(zip(keys, t.tolist(), strict=True))


def any_flag(flag: bool, device: torch.device) -> bool:
    """True on every process when ``flag`` is true on any (consistent early stopping)."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() < 2:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)
