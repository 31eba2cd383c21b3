"""Building blocks shared by the engine networks.

Region helpers (`one_hot`, `region_pool`, `broadcast_styles`) are vectorised over the 19 classes with
einsum: no Python loop over regions, and a class that is absent from a mask is simply all zeros.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils import parametrizations

from engine.labels import NUM_CLASSES

__all__ = [
    "one_hot",
    "region_pool",
    "broadcast_styles",
    "resize",
    "sn_conv",
    "conv",
    "has_spectral_norm",
    "check_image",
    "check_mask",
    "json_tuple",
]


def one_hot(labels: Tensor, num_classes: int = NUM_CLASSES) -> Tensor:
    """Label ids ``[B,H,W]`` (integer) -> one-hot float ``[B,num_classes,H,W]``."""
    if not isinstance(labels, Tensor):
        raise TypeError(f"one_hot expects a tensor of label ids, got {type(labels).__name__}")
    if labels.dim() != 3:
        raise ValueError(f"one_hot expects labels of shape [B,H,W], got {tuple(labels.shape)}")
    if labels.dtype.is_floating_point or labels.dtype == torch.bool:
        raise TypeError(f"one_hot expects integer label ids, got dtype {labels.dtype}")
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
        raise ValueError(
            f"label ids must lie in 0..{num_classes - 1}, got range {int(labels.min())}..{int(labels.max())}"
        )
    out = torch.zeros(
        labels.shape[0], num_classes, *labels.shape[1:], dtype=torch.float32, device=labels.device
    )
    return out.scatter_(1, labels.long().unsqueeze(1), 1.0)


def resize(x: Tensor, size: Sequence[int]) -> Tensor:
    """Resize a ``[B,C,h,w]`` map to ``size``: area averaging when shrinking, bilinear when growing."""
    size = (int(size[0]), int(size[1]))
    h, w = x.shape[-2:]
    if (h, w) == size:
        return x
    if size[0] <= h and size[1] <= w:
        return F.adaptive_avg_pool2d(x, size)
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


def check_mask(mask: Tensor, num_classes: int = NUM_CLASSES, name: str = "mask") -> None:
    """Raise a clear error unless ``mask`` is a float ``[B,num_classes,H,W]`` tensor."""
    if not isinstance(mask, Tensor):
        raise TypeError(f"{name} must be a tensor, got {type(mask).__name__}")
    if mask.dim() != 4 or mask.shape[1] != num_classes:
        raise ValueError(
            f"{name} must be one-hot [B,{num_classes},H,W] (use engine.models.layers.one_hot), "
            f"got shape {tuple(mask.shape)}"
        )
    if not mask.dtype.is_floating_point:
        raise TypeError(f"{name} must be a float one-hot tensor, got dtype {mask.dtype}")


def check_image(image: Tensor, channels: int = 3, name: str = "image") -> None:
    """Raise a clear error unless ``image`` is a float ``[B,channels,H,W]`` tensor."""
    if not isinstance(image, Tensor):
        raise TypeError(f"{name} must be a tensor, got {type(image).__name__}")
    if image.dim() != 4 or image.shape[1] != channels:
        raise ValueError(f"{name} must have shape [B,{channels},H,W], got {tuple(image.shape)}")
    if not image.dtype.is_floating_point:
        raise TypeError(f"{name} must be a float tensor in [-1,1], got dtype {image.dtype}")


def region_pool(features: Tensor, mask: Tensor) -> Tensor:
    """Per-class average of ``features [B,C,h,w]`` under ``mask [B,K,H,W]`` -> ``[B,K,C]``.

    The mask is area-resized to the feature size, so a pixel on a region border counts
    fractionally. Classes with no pixels give a zero vector.
    """
    if features.dim() != 4 or mask.dim() != 4:
        raise ValueError(
            f"region_pool expects features [B,C,h,w] and mask [B,K,H,W], got "
            f"{tuple(features.shape)} and {tuple(mask.shape)}"
        )
    if features.shape[0] != mask.shape[0]:
        raise ValueError(f"batch sizes differ: features {features.shape[0]}, mask {mask.shape[0]}")
    m = resize(mask.to(features.dtype), features.shape[-2:])
    sums = torch.einsum("bkhw,bchw->bkc", m, features)
    area = m.sum(dim=(2, 3)).unsqueeze(-1)  # [B,K,1]
    # Absent classes have sums == 0 exactly, so dividing by a clamped area yields 0.
    return sums / area.clamp_min(1e-6)


def broadcast_styles(styles: Tensor, mask: Tensor) -> Tensor:
    """Paint each class's style ``[B,K,C]`` over its region of ``mask [B,K,H,W]`` -> ``[B,C,H,W]``.

    With a one-hot mask every pixel gets exactly its class's vector; with a soft mask (a resized
    one) border pixels get the mask-weighted mix. The inverse of `region_pool` on maps that are
    constant per region.
    """
    if styles.dim() != 3 or mask.dim() != 4:
        raise ValueError(
            f"broadcast_styles expects styles [B,K,C] and mask [B,K,H,W], got "
            f"{tuple(styles.shape)} and {tuple(mask.shape)}"
        )
    if styles.shape[:2] != mask.shape[:2]:
        raise ValueError(
            f"styles {tuple(styles.shape)} and mask {tuple(mask.shape)} disagree on batch or class count"
        )
    return torch.einsum("bkc,bkhw->bchw", styles, mask.to(styles.dtype))


def conv(cin: int, cout: int, k: int = 3, stride: int = 1, bias: bool = True) -> nn.Conv2d:
    """Plain conv with 'same' padding for odd kernels."""
    return nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, bias=bias)


def sn_conv(cin: int, cout: int, k: int = 3, stride: int = 1, bias: bool = True) -> nn.Conv2d:
    """Conv with spectral norm on its weight (torch parametrization; saves as plain tensors)."""
    return parametrizations.spectral_norm(conv(cin, cout, k, stride, bias))


def has_spectral_norm(module: nn.Module) -> bool:
    """True when ``module.weight`` is spectrally normalised (parametrization or legacy hook)."""
    params = getattr(module, "parametrizations", None)
    if params is not None and "weight" in params:
        return any(type(p).__name__ == "_SpectralNorm" for p in params["weight"])
    return hasattr(module, "weight_orig")


def json_tuple(value, name: str) -> tuple:
    """Turn a JSON list (or any sequence) into a tuple of ints, with a clear error otherwise."""
    try:
        out = tuple(int(v) for v in value)
    except TypeError as exc:
        raise TypeError(f"{name} must be a list of ints, got {value!r}") from exc
    if not out or any(v <= 0 for v in out):
        raise ValueError(f"{name} must be a non-empty list of positive ints, got {value!r}")
    return out


def _instance_norm(x: Tensor) -> Tensor:
    if x.shape[-1] * x.shape[-2] == 1:  # one pixel: x - mean(x) is 0 (torch refuses to compute it)
        return torch.zeros_like(x)
    return F.instance_norm(x, eps=1e-5)


class RegionSpadeBlock(nn.Module):
    """Residual block with two "lite" SEAN normalisations (used by the generator).

    Each normalisation is parameter-free (instance or batch norm) followed by per-pixel
    ``gamma``/``beta`` that blend two branches with a learnable ``sigmoid`` weight per norm:

    * style branch: every class's style vector is broadcast over its region and a 1x1 conv maps
      the style map to ``gamma``/``beta``. A 1x1 conv commutes with broadcasting, so it is applied to
      the 19 vectors first (a Linear) and the result is broadcast: same maths, 19 instead of S
      multiply-adds per pixel and output channel.
    * SPADE branch: ONE shared 3x3 conv on the condition map (mask, plus any extra features) per
      block, then a 1x1 conv per norm.

    Everything after the shared 3x3 conv is linear, so both branches, both norms and the blend
    run as a single batched matmul per block (see `modulation`).

    Noise injection: a single-channel noise map scaled per channel is added after the first conv.
    """

    def __init__(
        self,
        cin: int,
        cout: int,
        *,
        style_dim: int,
        cond_channels: int,
        hidden: int,
        norm: str = "instance",
        noise: bool = True,
    ) -> None:
        super().__init__()
        if norm not in ("instance", "batch"):
            raise ValueError(f"norm must be 'instance' or 'batch', got {norm!r}")
        self.cin, self.cout = cin, cout
        self.mod_channels = 2 * (cin + cout)  # gamma/beta for norm 0 (cin) and norm 1 (cout)
        self.mask_conv = conv(cond_channels, hidden, 3)
        self.spade_out = conv(hidden, self.mod_channels, 1)
        self.style_out = nn.Linear(style_dim, self.mod_channels)
        # One blend logit per norm; sigmoid(0) = 0.5 starts with an even mix.
        self.blend_logit = nn.Parameter(torch.zeros(2))
        self.conv_0 = conv(cin, cout, 3)
        self.conv_1 = conv(cout, cout, 3)
        self.shortcut = conv(cin, cout, 1, bias=False) if cin != cout else nn.Identity()
        if norm == "batch":
            self.norm_0 = nn.BatchNorm2d(cin, affine=False)
            self.norm_1 = nn.BatchNorm2d(cout, affine=False)
        else:
            self.norm_0 = self.norm_1 = _instance_norm
        self.noise_scale = nn.Parameter(torch.zeros(cout)) if noise else None
        # "+1" on gamma, so that modulation starts at the identity: [1]*cin, [0]*cin, [1]*cout, [0]*cout.
        one = torch.cat([torch.ones(cin), torch.zeros(cin), torch.ones(cout), torch.zeros(cout)])
        self.register_buffer("gamma_offset", one, persistent=False)

    def blend_weights(self) -> Tensor:
        """The per-norm weight of the style branch, in (0, 1); the SPADE branch gets ``1 - w``."""
        return torch.sigmoid(self.blend_logit)

    def modulation(self, cond: Tensor, mask: Tensor, styles: Tensor) -> Tensor:
        """``[B, 2*(cin+cout), h, w]``: gamma0, beta0, gamma1, beta1 (gamma already includes +1)."""
        w = self.blend_weights()
        w_vec = torch.cat([w[0].expand(2 * self.cin), w[1].expand(2 * self.cout)])  # per output channel
        hid = F.relu(self.mask_conv(cond))
        b, k, h, w_ = mask.shape
        # Both branches are linear in (hid, mask), and the blend is linear too, so the whole
        # modulation is ONE batched matmul over the stacked inputs (a row of ones carries the bias):
        #   out = [W_spade * (1 - w) | A_b | bias] @ [hid ; mask ; 1],
        # where A_b [M,K] holds each class's gamma/beta from the style branch (scaled by w).
        per_class = (self.style_out(styles) * w_vec).transpose(1, 2)  # [B,M,K]
        spade_w = self.spade_out.weight.flatten(1) * (1.0 - w_vec).unsqueeze(1)  # [M,hidden]
        bias = self.spade_out.bias * (1.0 - w_vec) + self.gamma_offset
        weight = torch.cat(
            [spade_w.expand(b, -1, -1), per_class, bias.view(1, -1, 1).expand(b, -1, -1)], dim=2
        )
        inputs = torch.cat([hid, mask, torch.ones_like(mask[:, :1])], dim=1)
        out = torch.bmm(weight, inputs.reshape(b, -1, h * w_))
        return out.view(b, self.mod_channels, h, w_)

    def forward(
        self, x: Tensor, cond: Tensor, mask: Tensor, styles: Tensor, noise: Tensor | None = None
    ) -> Tensor:
        """``x [B,cin,h/2,w/2]`` -> ``[B,cout,h,w]``; ``cond``, ``mask`` and ``noise`` are at ``h x w``.

        The block upsamples x2 (nearest) first. Normalisation statistics and the 1x1 shortcut
        commute with nearest upsampling, so both run at the input size and are then upsampled:
        the same result as SEAN's "upsample, then block", for a quarter of their cost.
        """
        g0, b0, g1, b1 = torch.split(
            self.modulation(cond, mask, styles), [self.cin, self.cin, self.cout, self.cout], dim=1
        )
        h = torch.addcmul(b0, _up2(self.norm_0(x)), g0)
        h = self.conv_0(F.leaky_relu(h, 0.2))
        if noise is not None and self.noise_scale is not None:
            h = h + noise * self.noise_scale.view(1, -1, 1, 1)
        h = torch.addcmul(b1, self.norm_1(h), g1)
        h = self.conv_1(F.leaky_relu(h, 0.2))
        return _up2(self.shortcut(x)) + h


def _up2(x: Tensor) -> Tensor:
    return F.interpolate(x, scale_factor=2.0, mode="nearest")
