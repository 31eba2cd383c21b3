"""Continuous normalising flow over style vectors (paper 000 Eq. 7-8), FFJORD style.

A class-conditioned ODE dx/dt = f(x, t, class) carries a normalised style x(0) = (s - mean_c) / std_c to
a latent z = x(1) that should look standard normal. Fine-tuning a style moves z (z' = z + eta d) and
integrates back (1 -> 0), which keeps the result on the learned style manifold.

Density (instantaneous change of variables): d log p(x(t)) / dt = -tr(df/dx). With an augmented state
``delta' = -tr(df/dx)`` integrated from 0 to 1,

    log p(s) = log N(z; 0, I) - delta(1) - sum(log std_c)

The trace is exact (one autograd pass per dimension) or a Hutchinson estimate e^T (df/dx) e with one
Rademacher probe e per solve.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchdiffeq import odeint, odeint_adjoint

__all__ = ["FlowConfig", "StyleFlow", "FIXED_METHODS", "ADAPTIVE_METHODS"]

FIXED_METHODS = ("rk4", "euler", "midpoint", "explicit_adams", "implicit_adams")
ADAPTIVE_METHODS = ("dopri5", "dopri8", "bosh3", "adaptive_heun", "fehlberg2")


@dataclass
class FlowConfig:
    num_classes: int = 19
    style_dim: int = 64  # S
    hidden: int = 128
    class_embed: int = 16
    layers: int = 3  # linear layers of the ODE function

    def __post_init__(self) -> None:
        for name in ("num_classes", "style_dim", "hidden", "class_embed"):
            if int(getattr(self, name)) <= 0:
                raise ValueError(f"FlowConfig.{name} must be positive, got {getattr(self, name)!r}")
        if self.layers < 2:
            raise ValueError(f"FlowConfig.layers must be at least 2, got {self.layers}")


class _ODEFunc(nn.Module):
    """f(x, t, class): an MLP with softplus activations; time is fed to every layer.

    The last layer starts at zero, so an untrained flow is the identity (z = normalised style).
    """

    def __init__(self, cfg: FlowConfig) -> None:
        super().__init__()
        s, h, e = cfg.style_dim, cfg.hidden, cfg.class_embed
        self.embed = nn.Embedding(cfg.num_classes, e)
        sizes = [s + e] + [h] * (cfg.layers - 1) + [s]
        self.linears = nn.ModuleList(nn.Linear(sizes[i] + 1, sizes[i + 1]) for i in range(len(sizes) - 1))
        nn.init.zeros_(self.linears[-1].weight)
        nn.init.zeros_(self.linears[-1].bias)

    def forward(self, t: Tensor, x: Tensor, class_ids: Tensor) -> Tensor:
        tt = t.to(x.dtype).expand(x.shape[0], 1)
        h = torch.cat([x, self.embed(class_ids).to(x.dtype)], dim=1)
        last = len(self.linears) - 1
        for i, lin in enumerate(self.linears):
            h = lin(torch.cat([h, tt], dim=1))
            if i < last:
                h = F.softplus(h)
        return h


class _Dynamics(nn.Module):
    """The ODE right-hand side for one solve: fixes the class ids (and the trace mode, if augmented).

    An ``nn.Module`` holding ``func`` so that ``odeint_adjoint`` finds the parameters to differentiate.
    """

    def __init__(
        self, func: _ODEFunc, class_ids: Tensor, *, augmented: bool = False, probe: Tensor | None = None
    ) -> None:
        super().__init__()
        self.func = func
        self.class_ids = class_ids
        self.augmented = augmented
        self.probe = probe  # None: exact trace

    def forward(self, t: Tensor, state):
        if not self.augmented:
            return self.func(t, state, self.class_ids)
        x = state[0]
        create_graph = torch.is_grad_enabled()
        with torch.enable_grad():
            if not x.requires_grad:
                x = x.detach().requires_grad_(True)
            dx = self.func(t, x, self.class_ids)
            div = _divergence(dx, x, self.probe, create_graph)
        if not create_graph:
            dx = dx.detach()
        return dx, -div


def _divergence(dx: Tensor, x: Tensor, probe: Tensor | None, create_graph: bool) -> Tensor:
    if probe is not None:  # Hutchinson: E[e^T J e] = tr(J) for Rademacher e
        (vjp,) = torch.autograd.grad(dx, x, probe, create_graph=create_graph)
        return (vjp * probe).sum(dim=1)
    div = torch.zeros(x.shape[0], dtype=dx.dtype, device=dx.device)
    for i in range(x.shape[1]):
        (g,) = torch.autograd.grad(dx[:, i].sum(), x, create_graph=create_graph, retain_graph=True)
        div = div + g[:, i]
    return div


class StyleFlow(nn.Module):
    """Class-conditioned CNF between styles ``[N, S]`` and latents ``[N, S]``. See the module docstring."""

    def __init__(self, cfg: FlowConfig | None = None) -> None:
        super().__init__()
        cfg = cfg if cfg is not None else FlowConfig()
        self.cfg = cfg
        self.func = _ODEFunc(cfg)
        self.register_buffer("mean", torch.zeros(cfg.num_classes, cfg.style_dim))
        self.register_buffer("std", torch.ones(cfg.num_classes, cfg.style_dim))

    # ------------------------------------------------------------------ normalisation
    @torch.no_grad()
    def set_normalisation(self, mean: Tensor, std: Tensor) -> None:
        """Per-class style statistics ``[num_classes, S]`` (std strictly positive and finite)."""
        want = (self.cfg.num_classes, self.cfg.style_dim)
        mean = torch.as_tensor(mean, dtype=self.mean.dtype)
        std = torch.as_tensor(std, dtype=self.std.dtype)
        if tuple(mean.shape) != want or tuple(std.shape) != want:
            raise ValueError(f"mean and std must be {want}, got {tuple(mean.shape)} and {tuple(std.shape)}")
        if not torch.isfinite(mean).all() or not torch.isfinite(std).all() or (std <= 0).any():
            raise ValueError("mean must be finite and std finite and strictly positive")
        self.mean.copy_(mean.to(self.mean.device))
        self.std.copy_(std.to(self.std.device))

    def _check(self, x: Tensor, class_ids: Tensor, name: str) -> Tensor:
        if not isinstance(x, Tensor) or x.dim() != 2 or x.shape[1] != self.cfg.style_dim:
            shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"{name} must be [N, {self.cfg.style_dim}], got {shape}")
        class_ids = torch.as_tensor(class_ids, device=x.device)
        if class_ids.dim() == 0:
            class_ids = class_ids.expand(x.shape[0])
        if class_ids.dtype not in (torch.int64, torch.int32) or tuple(class_ids.shape) != (x.shape[0],):
            raise ValueError(
                f"class_ids must be an integer [N={x.shape[0]}] tensor, got {class_ids.dtype} "
                f"{tuple(class_ids.shape)}"
            )
        if class_ids.numel() and (class_ids.min() < 0 or class_ids.max() >= self.cfg.num_classes):
            raise ValueError(f"class_ids must be in 0..{self.cfg.num_classes - 1}")
        return class_ids.long()

    # ------------------------------------------------------------------ integration
    def _solve(
        self,
        dyn: _Dynamics,
        y0,
        t0: float,
        t1: float,
        ref: Tensor,
        *,
        adjoint: bool,
        method: str,
        steps: int,
        rtol: float,
        atol: float,
    ):
        if method in FIXED_METHODS:
            if int(steps) < 1:
                raise ValueError(f"steps must be at least 1, got {steps}")
            kwargs = {"method": method, "options": {"step_size": 1.0 / int(steps)}}
        elif method in ADAPTIVE_METHODS:
            kwargs = {"method": method, "rtol": rtol, "atol": atol}
        else:
            raise ValueError(
                f"unknown ODE method {method!r}; fixed-step: {FIXED_METHODS}, adaptive: {ADAPTIVE_METHODS}"
            )
        t = torch.tensor([t0, t1], dtype=ref.dtype, device=ref.device)
        if adjoint:
            params = tuple(p for p in self.func.parameters() if p.requires_grad)
            if not torch.is_grad_enabled() or not params:
                # Nothing to differentiate: the adjoint solve reduces to the plain forward solve.
                out = odeint(dyn, y0, t, **kwargs)
            else:
                out = odeint_adjoint(dyn, y0, t, adjoint_params=params, **kwargs)
        else:
            out = odeint(dyn, y0, t, **kwargs)
        return tuple(o[-1] for o in out) if isinstance(out, tuple) else out[-1]

    def to_z(
        self,
        style: Tensor,
        class_ids: Tensor,
        *,
        adjoint: bool = False,
        method: str = "rk4",
        steps: int = 8,
        rtol: float = 1e-5,
        atol: float = 1e-5,
    ) -> Tensor:
        """Styles ``[N, S]`` -> latents ``[N, S]`` (integrate t: 0 -> 1)."""
        class_ids = self._check(style, class_ids, "style")
        x = (style - self.mean[class_ids]) / self.std[class_ids]
        return self._solve(
            _Dynamics(self.func, class_ids),
            x,
            0.0,
            1.0,
            x,
            adjoint=adjoint,
            method=method,
            steps=steps,
            rtol=rtol,
            atol=atol,
        )

    def from_z(
        self,
        z: Tensor,
        class_ids: Tensor,
        *,
        adjoint: bool = False,
        method: str = "rk4",
        steps: int = 8,
        rtol: float = 1e-5,
        atol: float = 1e-5,
    ) -> Tensor:
        """Latents ``[N, S]`` -> styles ``[N, S]`` (integrate t: 1 -> 0)."""
        class_ids = self._check(z, class_ids, "z")
        x = self._solve(
            _Dynamics(self.func, class_ids),
            z,
            1.0,
            0.0,
            z,
            adjoint=adjoint,
            method=method,
            steps=steps,
            rtol=rtol,
            atol=atol,
        )
        return x * self.std[class_ids] + self.mean[class_ids]

    def shift(self, style: Tensor, class_ids: Tensor, dz: Tensor, **solver) -> Tensor:
        """Fine-tune: ``from_z(to_z(style) + dz)`` (Eq. 8), ``dz`` broadcastable to ``[N, S]``."""
        return self.from_z(self.to_z(style, class_ids, **solver) + dz, class_ids, **solver)

    def log_prob(
        self,
        style: Tensor,
        class_ids: Tensor,
        *,
        exact_trace: bool = False,
        adjoint: bool = False,
        method: str = "rk4",
        steps: int = 8,
        rtol: float = 1e-5,
        atol: float = 1e-5,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Log-density ``[N]`` of styles under the flow (needs autograd: not under inference_mode).

        ``exact_trace``: exact divergence (S autograd passes per evaluation) instead of Hutchinson's
        estimate; ``generator`` (CPU) seeds the Rademacher probe.
        """
        if torch.is_inference_mode_enabled():
            raise RuntimeError(
                "StyleFlow.log_prob needs autograd for the divergence; call it outside torch.inference_mode()"
            )
        class_ids = self._check(style, class_ids, "style")
        std = self.std[class_ids]
        x = (style - self.mean[class_ids]) / std
        probe = None
        if not exact_trace:
            probe = torch.randint(0, 2, tuple(x.shape), generator=generator, dtype=torch.int64)
            probe = (probe * 2 - 1).to(device=x.device, dtype=x.dtype)
        dyn = _Dynamics(self.func, class_ids, augmented=True, probe=probe)
        delta0 = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
        z, delta = self._solve(
            dyn, (x, delta0), 0.0, 1.0, x, adjoint=adjoint, method=method, steps=steps, rtol=rtol, atol=atol
        )
        log_pz = -0.5 * (z.pow(2).sum(dim=1) + z.shape[1] * math.log(2 * math.pi))
        return log_pz - delta - std.log().sum(dim=1)
