"""One factory for every corpus: ``make_dataset(spec, split, size, ...)``.

Specs:

- ``synthetic`` (or ``synthetic:N`` for a length of N faces): rendered on the fly, exact labels;
- ``synthetic-photo`` (``synthetic-photo:N``): the same faces made to look photographed
  (``training.data.synth_photo``), labels unchanged;
- ``celebamask-hq:DIR``: CelebAMask-HQ, raw per-part annotations or combined label maps;
- ``lapa:DIR``: LaPa, 11 classes mapped onto ours;
- ``folder:DIR``: ``DIR/images`` + ``DIR/labels`` with matching stems;
- ``photos:DIR``: unlabelled photos, labelled on the fly by ``parser=``.

Every dataset is map-style (``len``, ``ds[i] -> Sample``); file readers skip bad files and count them
in ``ds.report`` (a ``SkipReport``). ``collate`` stacks samples into torch tensors.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from training.data.celebamask_hq import CelebAMaskHQ
from training.data.folder import LabeledFolder, PhotoFolder
from training.data.lapa import LaPa
from training.data.sample import Sample
from training.data.synthetic_faces import SyntheticFaces

SPEC_FORMS = ("synthetic", "synthetic:N", "synthetic-photo[:N]", "celebamask-hq:DIR", "lapa:DIR", "folder:DIR", "photos:DIR")


class SpecError(ValueError):
    """A dataset spec that names no known corpus."""


def parse_spec(spec: str) -> tuple[str, str]:
    """``'lapa:/data/LaPa'`` -> ``('lapa', '/data/LaPa')``; the argument may itself contain colons."""
    if not isinstance(spec, str) or not spec.strip():
        raise SpecError(f"empty dataset spec; use one of: {', '.join(SPEC_FORMS)}")
    kind, _, arg = spec.strip().partition(":")
    kind = kind.lower().replace("_", "-")
    if kind in ("celebamask", "celeba-mask-hq", "celebamaskhq"):
        kind = "celebamask-hq"
    if kind not in ("synthetic", "synthetic-photo", "celebamask-hq", "lapa", "folder", "photos"):
        raise SpecError(f"unknown dataset {spec!r}; use one of: {', '.join(SPEC_FORMS)}")
    if not kind.startswith("synthetic") and not arg:
        raise SpecError(f"dataset {kind!r} needs a folder: {kind}:DIR")
    return kind, arg


def make_dataset(
    spec: str,
    split: str = "train",
    size: int = 256,
    *,
    length: int | None = None,
    parser: Callable[[np.ndarray], np.ndarray] | None = None,
    first_seed: int | None = None,
    **kwargs,
):
    """Build the dataset named by ``spec`` (see the module doc) for ``split`` at ``size`` pixels.

    ``length`` sets the number of synthetic faces (default 100,000 for train, 2,000 otherwise) and
    ``first_seed`` their first seed; ``parser`` is required for ``photos:``. Other keyword arguments go
    to the reader (e.g. ``priority=``/``labels_dir=`` for CelebAMask-HQ, ``swap_lr=`` for LaPa,
    ``fit=`` for every file reader).
    """
    kind, arg = parse_spec(spec)
    if kind in ("synthetic", "synthetic-photo"):
        if arg:
            try:
                length = int(arg)
            except ValueError:
                raise SpecError(f"synthetic:N needs an integer N, got {arg!r}") from None
        if length is None:
            length = 100_000 if split == "train" else 2_000
        if kwargs:
            raise TypeError(f"unexpected arguments for synthetic: {sorted(kwargs)}")
        return SyntheticFaces(size, length, split, first_seed, photo=kind == "synthetic-photo")
    if kind == "celebamask-hq":
        return CelebAMaskHQ(arg, split, size, **kwargs)
    if kind == "lapa":
        return LaPa(arg, split, size, **kwargs)
    if kind == "folder":
        return LabeledFolder(arg, split, size, **kwargs)
    return PhotoFolder(arg, split, size, parser=parser, **kwargs)


def collate(samples: Sequence[Sample]):
    """Samples -> (images float [B,3,H,W] in [-1,1], labels long [B,H,W]) torch tensors."""
    import torch

    if not samples:
        raise ValueError("collate needs at least one sample")
    imgs = np.stack([s.image for s in samples])
    labs = np.stack([s.label for s in samples])
    images = torch.from_numpy(imgs).permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)
    return images.contiguous(), torch.from_numpy(labs.astype(np.int64))
