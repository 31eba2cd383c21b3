"""Losses and image metrics shared by the stages and the evaluator.

Images are ``[B,3,H,W]`` in [-1, 1] throughout.

Perceptual loss: VGG-19 features (relu1_1 .. relu5_1, weights 1/32 .. 1) **only** when the user gives a
local weights file (``--vgg-weights``; safetensors, or a torch file read with ``weights_only=True``). We
never download anything. Without that file the documented fallback is `StructureLoss`: L1 between the
image gradients (horizontal and vertical finite differences) plus (1 - SSIM), each at three scales
(full, 1/2, 1/4). It needs no weights and penalises blur and misplaced edges, which is what the VGG term
is mostly there for in a reconstruction setting.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "ssim",
    "psnr",
    "gradient_l1",
    "StructureLoss",
    "VGGPerceptual",
    "make_perceptual",
    "hinge_d_loss",
    "hinge_g_loss",
    "feature_matching",
    "free_form_masks",
    "region_mean_abs_error",
]


def _gauss_window(size: int = 11, sigma: float = 1.5, device=None, dtype=None) -> Tensor:
    x = torch.arange(size, device=device, dtype=dtype) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    g = g / g.sum()
    return g


def ssim(a: Tensor, b: Tensor, reduce: bool = True) -> Tensor:
    """Structural similarity of two [-1,1] image batches (Gaussian 11x11, sigma 1.5, on [0,1] scale).

    Returns the mean over the batch, or per image ``[B]`` with ``reduce=False``.
    """
    a = (a.float() + 1) / 2
    b = (b.float() + 1) / 2
    c = a.shape[1]
    size = min(11, a.shape[-1], a.shape[-2])
    size -= 1 - size % 2
    g = _gauss_window(size, 1.5, a.device, a.dtype)
    wx = g.view(1, 1, 1, -1).expand(c, 1, 1, size)
    wy = g.view(1, 1, -1, 1).expand(c, 1, size, 1)

    def blur(x: Tensor) -> Tensor:
        return F.conv2d(F.conv2d(x, wx, groups=c), wy, groups=c)

    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a**2
    var_b = blur(b * b) - mu_b**2
    cov = blur(a * b) - mu_a * mu_b
    c1, c2 = 0.01**2, 0.03**2
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    per = s.flatten(1).mean(1)
    return per.mean() if reduce else per


def psnr(a: Tensor, b: Tensor, mask: Tensor | None = None) -> Tensor:
    """PSNR in dB per image ``[B]`` on the [0,1] scale; ``mask [B,1,H,W]`` restricts the pixels."""
    d = ((a.float() - b.float()) / 2) ** 2
    if mask is None:
        mse = d.flatten(1).mean(1)
    else:
        m = mask.float().expand_as(d)
        mse = (d * m).flatten(1).sum(1) / m.flatten(1).sum(1).clamp_min(1)
    return 10 * torch.log10(1.0 / mse.clamp_min(1e-10))


def gradient_l1(a: Tensor, b: Tensor) -> Tensor:
    """L1 between horizontal and vertical finite differences."""
    dxa, dxb = a[..., :, 1:] - a[..., :, :-1], b[..., :, 1:] - b[..., :, :-1]
    dya, dyb = a[..., 1:, :] - a[..., :-1, :], b[..., 1:, :] - b[..., :-1, :]
    return (dxa - dxb).abs().mean() + (dya - dyb).abs().mean()


class StructureLoss(nn.Module):
    """The download-free perceptual fallback: multi-scale gradient L1 + (1 - SSIM)."""

    def __init__(self, scales: int = 3, ssim_weight: float = 1.0) -> None:
        super().__init__()
        self.scales = scales
        self.ssim_weight = ssim_weight

    def forward(self, a: Tensor, b: Tensor) -> Tensor:
        with torch.autocast(device_type=a.device.type, enabled=False):  # SSIM wants full precision
            return self._forward(a.float(), b.float())

    def _forward(self, a: Tensor, b: Tensor) -> Tensor:
        total = a.new_zeros((), dtype=torch.float32)
        for i in range(self.scales):
            if i:
                if min(a.shape[-2:]) < 16:
                    break
                a, b = F.avg_pool2d(a, 2), F.avg_pool2d(b, 2)
            total = total + gradient_l1(a.float(), b.float()) + self.ssim_weight * (1 - ssim(a, b))
        return total


class VGGPerceptual(nn.Module):
    """L1 between VGG-19 activations (relu1_1 .. relu5_1) from a local weights file."""

    LAYERS = (1, 6, 11, 20, 29)
    WEIGHTS = (1 / 32, 1 / 16, 1 / 8, 1 / 4, 1.0)

    def __init__(self, weights_path: str | Path) -> None:
        super().__init__()
        from torchvision.models import vgg19

        path = Path(weights_path)
        if not path.is_file():
            raise FileNotFoundError(f"VGG-19 weights file {path} does not exist")
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(str(path), map_location="cpu", weights_only=True)
        if not isinstance(state, dict):
            raise ValueError(f"{path} does not hold a VGG-19 state dict")
        features = vgg19(weights=None).features[: self.LAYERS[-1] + 1]
        sub = {k[len("features.") :]: v for k, v in state.items() if k.startswith("features.")} or state
        sub = {k: v for k, v in sub.items() if k.split(".")[0].isdigit() and int(k.split(".")[0]) <= 29}
        missing, _ = features.load_state_dict(sub, strict=False)
        if missing:
            raise ValueError(f"{path} is missing VGG-19 feature weights {missing[:4]}")
        self.features = features.eval().requires_grad_(False)
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))

    def _acts(self, x: Tensor) -> list[Tensor]:
        x = ((x + 1) / 2 - self.mean) / self.std
        out = []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in self.LAYERS:
                out.append(x)
        return out

    def forward(self, a: Tensor, b: Tensor) -> Tensor:
        fa, fb = self._acts(a), self._acts(b.detach())
        return sum(w * (x - y).abs().mean() for w, x, y in zip(self.WEIGHTS, fa, fb, strict=True))


def make_perceptual(vgg_weights: str = "") -> nn.Module:
    """VGG-19 perceptual loss from ``vgg_weights`` when given, else the `StructureLoss` fallback."""
    return VGGPerceptual(vgg_weights) if vgg_weights else StructureLoss()


def hinge_d_loss(real: list[list[Tensor]], fake: list[list[Tensor]]) -> Tensor:
    """Discriminator hinge loss summed over scales (last entry of each scale = logits)."""
    loss = 0.0
    for r, f in zip(real, fake, strict=True):
        loss = loss + F.relu(1 - r[-1]).mean() + F.relu(1 + f[-1]).mean()
    return loss / len(real)


def hinge_g_loss(fake: list[list[Tensor]]) -> Tensor:
    return sum(-f[-1].mean() for f in fake) / len(fake)


def feature_matching(real: list[list[Tensor]], fake: list[list[Tensor]]) -> Tensor:
    """L1 between the discriminator's intermediate activations on real and generated images."""
    loss, n = 0.0, 0
    for r, f in zip(real, fake, strict=True):
        for x, y in zip(r[:-1], f[:-1], strict=True):
            loss = loss + (x.detach() - y).abs().mean()
            n += 1
    return loss / max(n, 1)


def free_form_masks(batch: int, size: int, seed: int, device=None) -> Tensor:
    """Random free-form brush masks ``[B,1,H,W]`` in {0,1}: a few thick random polylines per image,
    like a user's strokes (coverage roughly 10-50 %)."""
    import cv2

    rng = np.random.default_rng(seed)
    out = np.zeros((batch, size, size), np.uint8)
    for b in range(batch):
        m = out[b]
        for _ in range(int(rng.integers(1, 4))):
            x, y = rng.uniform(0.15, 0.85, 2) * size
            width = max(2, int(rng.uniform(0.06, 0.16) * size))
            for _ in range(int(rng.integers(2, 6))):
                angle = rng.uniform(0, 2 * np.pi)
                length = rng.uniform(0.1, 0.35) * size
                nx = float(np.clip(x + length * np.cos(angle), 0, size - 1))
                ny = float(np.clip(y + length * np.sin(angle), 0, size - 1))
                cv2.line(m, (int(x), int(y)), (int(nx), int(ny)), 1, width)
                cv2.circle(m, (int(nx), int(ny)), width // 2, 1, -1)
                x, y = nx, ny
    return torch.from_numpy(out).float().unsqueeze(1).to(device)


def region_mean_abs_error(a: Tensor, b: Tensor, region: Tensor) -> Tensor:
    """Mean absolute difference of the region-mean colours, on the 0..255 scale, per image ``[B]``.

    ``region [B,1,H,W]``; images whose region is empty give 0.
    """
    r = region.float()
    area = r.flatten(1).sum(1).clamp_min(1)
    ma = (a.float() * r).flatten(2).sum(2) / area[:, None]
    mb = (b.float() * r).flatten(2).sum(2) / area[:, None]
    return (ma - mb).abs().mean(1) * 127.5
