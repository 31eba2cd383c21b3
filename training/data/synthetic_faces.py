"""The synthetic corpus as a map-style dataset: plain faces (``synthetic.render_face``) and, for a chosen
share of the seeds, their photographic variant (``synth_photo.render_photo_face``)."""

from __future__ import annotations

from dataclasses import asdict

from training.data.sample import Sample
from training.data.synth_photo import render_photo_face, wants_photo
from training.data.synthetic import _check_size, render_face, sample_geometry

__all__ = ["SyntheticFaces"]


class SyntheticFaces:
    """Map-style dataset of rendered faces: item ``i`` is ``render_face(first_seed + i, size)``.

    The ``train`` split starts at seed 1,000,000 and ``test`` at seed 0 unless ``first_seed`` is given,
    so the two never overlap for lengths below a million.

    ``photo`` turns on the photographic variant (``synth_photo.render_photo_face``: same labels, an
    image randomised towards real photographs): ``True`` for every item, a number in (0, 1) for that
    fraction of the items (chosen per seed, so an item is always the same), ``False``/0 for none.
    """

    def __init__(
        self, size: int = 256, length: int = 100_000, split: str = "train", first_seed=None, photo=False
    ):
        if split not in ("train", "test", "val", "all"):
            raise ValueError(f"split must be train, val, test or all, got {split!r}")
        self.size = _check_size(size)
        self.length = int(length)
        default = {"train": 1_000_000, "all": 1_000_000, "val": 500_000, "test": 0}[split]
        self.first_seed = default if first_seed is None else int(first_seed)
        self.split = split
        self.photo = float(photo)
        if not 0.0 <= self.photo <= 1.0:
            raise ValueError(f"photo must be a bool or a fraction in [0, 1], got {photo!r}")

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, idx: int) -> Sample:
        if idx < 0:
            idx += self.length
        if not 0 <= idx < self.length:
            raise IndexError(f"index {idx} out of range for SyntheticFaces ({self.length})")
        seed = self.first_seed + idx
        if self.photo > 0.0:
            if wants_photo(seed, self.photo):
                return render_photo_face(seed, self.size)
        return render_face(seed, self.size)

    def geometry(self, idx: int) -> dict:
        return asdict(sample_geometry(self.first_seed + idx))
