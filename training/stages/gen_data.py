"""Batches for the generator stage: faces, exemplars (MSCA) and transfer triplets with relit ground truth.

Everything random about sample ``k`` at step ``s`` is drawn from ``(seed, k, s)``, never from the process,
so data are the same for any number of processes and repeat exactly on resume.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch

from engine.labels import NUM_CLASSES
from training.dist import mix_seed
from training.stages.common import SampleSource, images_to_tensor, labels_to_tensor, onehot

__all__ = ["Faces", "Transfer", "GenBatch", "random_affine", "transfer_triplets", "TRANSFER_CHOICES"]

#: Region groups the harmonisation losses transfer from a source face (names of TRANSFER_GROUPS).
TRANSFER_CHOICES: tuple[tuple[str, ...], ...] = (("skin",), ("hair",), ("skin", "hair"))

#: Offset between a transfer's target seed and its source seed (keeps sources in the same split).
SOURCE_OFFSET = 7_777_777


@dataclass
class Faces:
    image: torch.Tensor  # [B,3,H,W]
    label: torch.Tensor  # [B,H,W] long
    mask: torch.Tensor  # [B,19,H,W] one-hot

    @classmethod
    def from_arrays(cls, images, labels, device) -> Faces:
        lab = labels_to_tensor(labels, device)
        return cls(images_to_tensor(images, device), lab, onehot(lab))

    def __len__(self) -> int:
        return self.image.shape[0]


@dataclass
class Transfer:
    """Target and source faces, the exact relit ground truth, and which classes were transferred."""

    target: Faces
    source: Faces
    gt: Faces  # target's layout and light, source's appearance for the transferred groups
    edited: torch.Tensor  # bool [B,19]


@dataclass
class GenBatch:
    faces: Faces
    exemplar: Faces | None = None  # MSCA variant: a re-framed copy of each face
    transfer: Transfer | None = None  # synthetic corpus, harmonisation steps
    masks: torch.Tensor | None = None  # [B,1,H,W] free-form masks for the content-alignment loss
    positions: tuple[int, ...] = ()


def random_affine(image: np.ndarray, label: np.ndarray, rng: np.random.Generator, strength: float = 1.0):
    """A different framing of the same face: rotation, scale, shift and a flip (labels nearest, swapped)."""
    from training.data.sample import FLIP_LUT

    h, w = label.shape
    if rng.random() < 0.5:
        image, label = image[:, ::-1], FLIP_LUT[label[:, ::-1]]
    angle = rng.uniform(-20, 20) * strength
    scale = 1.0 + rng.uniform(-0.2, 0.2) * strength
    mat = cv2.getRotationMatrix2D((w / 2, h / 2), angle, scale)
    mat[:, 2] += rng.uniform(-0.15, 0.15, 2) * (w, h) * strength
    img = cv2.warpAffine(
        np.ascontiguousarray(image), mat, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101
    )
    lab = cv2.warpAffine(
        np.ascontiguousarray(label), mat, (w, h), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_REFLECT_101
    )
    return img, lab


def transfer_triplets(target_seeds: list[int], size: int, seed: int, step: int, device) -> Transfer:
    """Render (target, source, relit GT) for each target seed; the groups transferred vary per sample."""
    from training.data.synthetic import TRANSFER_GROUPS, render_transfer_gt

    tgt, src, gt_imgs = [], [], []
    edited = torch.zeros(len(target_seeds), NUM_CLASSES, dtype=torch.bool)
    for i, t in enumerate(target_seeds):
        rng = np.random.default_rng(mix_seed(seed, t, step, 17))
        regions = TRANSFER_CHOICES[int(rng.integers(len(TRANSFER_CHOICES)))]
        s = t + SOURCE_OFFSET + int(rng.integers(1, 1000))
        target, source, gt = render_transfer_gt(t, s, regions, size)
        tgt.append(target)
        src.append(source)
        gt_imgs.append(gt)
        for r in regions:
            edited[i, list(TRANSFER_GROUPS[r])] = True
    target = Faces.from_arrays([x.image for x in tgt], [x.label for x in tgt], device)
    gt = Faces(images_to_tensor(gt_imgs, device), target.label, target.mask)
    return Transfer(
        target=target,
        source=Faces.from_arrays([x.image for x in src], [x.label for x in src], device),
        gt=gt,
        edited=edited.to(device),
    )


def make_gen_batch(
    source: SampleSource,
    positions: list[int],
    step: int,
    *,
    seed: int,
    size: int,
    device,
    exemplars: bool,
    cross_prob: float,
    masks: bool,
    transfer_count: int,
) -> GenBatch:
    """Faces for ``positions``; ``step`` seeds the per-sample randomness (pass 0 to repeat a batch)."""
    rstep = step
    samples = [source(k) for k in positions]
    faces = Faces.from_arrays([s.image for s in samples], [s.label for s in samples], device)
    batch = GenBatch(faces=faces, positions=tuple(positions))
    if exemplars:
        ims, labs = [], []
        for k, s in zip(positions, samples, strict=True):
            rng = np.random.default_rng(mix_seed(seed, k, rstep, 3))
            if rng.random() < cross_prob:
                im, lab = random_affine(s.image, s.label, rng)
            else:
                im, lab = s.image, s.label
            ims.append(im)
            labs.append(lab)
        batch.exemplar = Faces.from_arrays(ims, labs, device)
    if masks:
        from training.losses import free_form_masks

        batch.masks = torch.cat(
            [free_form_masks(1, size, mix_seed(seed, k, rstep, 5)) for k in positions]
        ).to(device)
    if transfer_count > 0 and source.synthetic:
        seeds = [source.seed_of(k) for k in positions[:transfer_count]]
        batch.transfer = transfer_triplets(seeds, size, seed, rstep, device)
    return batch
