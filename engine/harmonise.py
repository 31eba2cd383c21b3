"""The harmoniser, written once: what the editor runs, what the evaluation measures and what the MSCA
stage trains through.

``harmonise`` takes the target's own styles ``s_t`` and the composed styles ``s'_r`` (edited classes
from elsewhere, the rest the target's) and returns the styles, the generator and the spatial features to
generate with:

- ``mrsa`` (paper 000, Eq. 4-5): MRSA corrects the rows *pasted* from another face (a reference, a blend
  towards one, a random draw). A colour edit is encoded from this photo's own recoloured pixels, already
  in its light, and untouched regions keep their styles, so no other row changes.
- ``msca`` (paper 004): the composed styles go through ``generator_msca`` with the masked spatial-
  channel attention features of an exemplar (the reference used most, or the photo itself), scaled by
  ``min(alpha, 1)``; it applies whenever any region is edited.
- ``off``, or nothing to harmonise: the composed styles through the plain generator.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from engine.state import HARMONIZERS as HARMONISERS  # the names an EditState accepts

__all__ = ["HARMONISERS", "Harmonised", "harmonise", "msca_features"]


@dataclass(frozen=True)
class Harmonised:
    styles: Tensor  # [B, 19, S]
    generator: nn.Module
    extra: Tensor | None = None  # MSCA features for generator_msca, or None

    def generate(self, mask: Tensor, noise_seed: int | None = 0) -> Tensor:
        return self.generator(mask, self.styles, extra=self.extra, noise_seed=noise_seed)


def msca_features(nets, target_mask: Tensor, exemplar_image: Tensor, exemplar_mask: Tensor) -> Tensor:
    """MSCA(target one-hot mask, encoder pyramid of the exemplar, exemplar one-hot mask)."""
    return nets.need("msca")(target_mask, nets.need("encoder").pyramid(exemplar_image), exemplar_mask)


def harmonise(
    nets,
    method: str,
    s_t: Tensor,
    s_r: Tensor,
    pasted: Tensor,
    *,
    alpha: float = 1.0,
    edited: Tensor | None = None,
    target_mask: Tensor | None = None,
    exemplar: tuple[Tensor, Tensor] | None = None,
    features: Tensor | None = None,
) -> Harmonised:
    """Styles, generator and features for ``method`` (mrsa | msca | off).

    ``s_t``, ``s_r``: [B, 19, S]. ``pasted``: bool [B, 19], the rows MRSA corrects. ``edited``: bool
    [B, 19], every row whose style changed (default: ``pasted``); nothing edited in the batch means no
    harmoniser. MSCA needs ``features`` (precomputed by :func:`msca_features`) or ``target_mask`` and
    ``exemplar`` = (image, one-hot mask) to compute them. ``nets``: an :class:`engine.networks.Networks`.
    """
    if method not in HARMONISERS:
        raise ValueError(f"unknown harmoniser {method!r}; one of {', '.join(HARMONISERS)}")
    pasted = torch.as_tensor(pasted, device=s_r.device).bool()
    edited = pasted if edited is None else torch.as_tensor(edited, device=s_r.device).bool()
    if method == "off" or not bool(edited.any()):
        return Harmonised(s_r, nets.need("generator"))
    if method == "mrsa":
        rows = pasted & edited
        if not bool(rows.any()):
            return Harmonised(s_r, nets.need("generator"))
        out = nets.need("mrsa")(s_t, s_r, alpha=float(alpha))
        return Harmonised(torch.where(rows[..., None], out, s_r), nets.need("generator"))
    if features is None:
        if target_mask is None or exemplar is None:
            raise ValueError("MSCA needs its features, or the target mask and an exemplar")
        features = msca_features(nets, target_mask, *exemplar)
    return Harmonised(s_r, nets.need("generator_msca"), features * float(min(alpha, 1.0)))
