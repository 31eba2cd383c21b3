"""The 19 face regions: names, display colours, RSM groups and label-order remaps.

This module is the single source of truth for the label schema. Everything else (parser, encoder,
generator, editor legend, dataset readers) imports from here.

Order is the CelebAMask-HQ order used by SEAN and MaskGAN.
"""

from __future__ import annotations

import numpy as np

NUM_CLASSES = 19

#: Machine names, index = class id.
NAMES: tuple[str, ...] = (
    "background",
    "skin",
    "nose",
    "eye_g",
    "l_eye",
    "r_eye",
    "l_brow",
    "r_brow",
    "l_ear",
    "r_ear",
    "mouth",
    "u_lip",
    "l_lip",
    "hair",
    "hat",
    "ear_r",
    "neck_l",
    "neck",
    "cloth",
)

#: Human names for the editor's legend.
DISPLAY_NAMES: tuple[str, ...] = (
    "Background",
    "Skin",
    "Nose",
    "Glasses",
    "Left eye",  # the subject's left (image right), see LR_PAIRS
    "Right eye",
    "Left brow",
    "Right brow",
    "Left ear",
    "Right ear",
    "Mouth",
    "Upper lip",
    "Lower lip",
    "Hair",
    "Hat",
    "Earring",
    "Necklace",
    "Neck",
    "Clothes",
)

#: Display colours (RGB), chosen to be distinct on the mask overlay.
COLORS: np.ndarray = np.array(
    [
        (0, 0, 0),
        (204, 0, 0),
        (76, 153, 0),
        (204, 204, 0),
        (51, 51, 255),
        (204, 0, 204),
        (0, 255, 255),
        (255, 204, 204),
        (102, 51, 0),
        (255, 0, 0),
        (102, 204, 0),
        (255, 255, 0),
        (0, 0, 153),
        (0, 0, 204),
        (255, 51, 153),
        (0, 204, 204),
        (0, 51, 0),
        (255, 153, 51),
        (0, 204, 0),
    ],
    dtype=np.uint8,
)

#: Name -> id.
INDEX: dict[str, int] = {n: i for i, n in enumerate(NAMES)}

# --- left and right ------------------------------------------------------------------------------
#: Left and right are the *subject's*, as CelebAMask-HQ labels them (and so facexlib's BiSeNet, SEAN and
#: MaskGAN): ``l_eye``, ``l_brow`` and ``l_ear`` are the subject's left eye, brow and ear, which a
#: frontal photo shows on the image's RIGHT. On real CelebAMask-HQ label maps the ``l_eye`` centroid sits
#: at about 0.6 of the width. Every reader, the corpus renderer and the legend follow this.
LR_PAIRS: tuple[tuple[int, int], ...] = ((4, 5), (6, 7), (8, 9))  # (l_*, r_*)

#: Which side of a frontal image each side class lies on: +1 = the image's right, -1 = its left.
IMAGE_SIDE: dict[int, int] = {c: s for pair in LR_PAIRS for c, s in zip(pair, (1, -1), strict=True)}

#: class id -> the class it becomes in the mirror image (l_eye <-> r_eye, ...); the rest map to
#: themselves. Index with a label map to mirror its names (flip the pixels separately).
MIRROR: np.ndarray = np.arange(NUM_CLASSES, dtype=np.uint8)
for _l, _r in LR_PAIRS:
    MIRROR[_l], MIRROR[_r] = _r, _l


def describe_region(class_id: int) -> str:
    """A line for a legend tooltip: the region's name, and for a side class which side is meant."""
    name = DISPLAY_NAMES[class_id]
    side = IMAGE_SIDE.get(class_id)
    if side is None:
        return name
    whose = "left" if side == 1 else "right"
    where = "right" if side == 1 else "left"
    return f"{name}: the subject's {whose}, on the image's {where} in a frontal photo"


def swap_left_right(mask: np.ndarray) -> np.ndarray:
    """The same label map with every left class renamed right and back (pixels stay where they are):
    converts a mask drawn in the opposite convention."""
    m = np.asarray(mask)
    return MIRROR[m.astype(np.intp)] if m.size else m.copy()


def mirrored_convention(mask: np.ndarray) -> bool | None:
    """True when a face mask puts the ``l_*`` classes on the image's LEFT (the opposite convention),
    False when it follows ours, None when it cannot tell. A pair votes only when both sides are present
    and lie apart: their centres more than a tenth of the width apart and further apart than either
    side's own spread (scattered pixels, as in a noise mask, never vote)."""
    m = np.asarray(mask)
    if m.ndim != 2 or not m.size:
        return None
    xs = np.arange(m.shape[1], dtype=np.float64)
    votes = 0
    for left, right in LR_PAIRS:
        cols_l, cols_r = (np.count_nonzero(m == c, axis=0) for c in (left, right))
        nl, nr = cols_l.sum(), cols_r.sum()
        if not nl or not nr:
            continue
        xl, xr = (xs * cols_l).sum() / nl, (xs * cols_r).sum() / nr
        sl = np.sqrt((cols_l * (xs - xl) ** 2).sum() / nl)
        sr = np.sqrt((cols_r * (xs - xr) ** 2).sum() / nr)
        gap = abs(xl - xr)
        if gap > 0.1 * m.shape[1] and gap > max(sl, sr):
            votes += 1 if xl < xr else -1
    return None if votes == 0 else votes > 0

#: Region mapping groups for RSM (paper 000): related classes get one mapping network, so that
#: e.g. both eyes, or the face skin, nose, ears and neck, stay coherent when sampled at random.
#: An RSM network stores the groups it was trained with in its config (`RSMConfig.groups`).
RSM_GROUPS: dict[str, tuple[int, ...]] = {
    "background": (0,),
    "skin": (1, 2, 8, 9, 17),  # skin, nose, both ears, neck: one skin tone
    "glasses": (3,),
    "eyes": (4, 5),
    "brows": (6, 7),
    "mouth": (10, 11, 12),  # inner mouth + both lips
    "hair": (13,),
    "hat": (14,),
    "accessories": (15, 16),  # earring + necklace
    "cloth": (18,),
}

#: The groups of RSM networks saved before the groups were part of their config: ears and neck then
#: had networks of their own, so a random skin left them alone.
LEGACY_RSM_GROUPS: dict[str, tuple[int, ...]] = {
    "background": (0,),
    "skin": (1, 2),
    "glasses": (3,),
    "eyes": (4, 5),
    "brows": (6, 7),
    "ears": (8, 9),
    "mouth": (10, 11, 12),
    "hair": (13,),
    "hat": (14,),
    "accessories": (15, 16),
    "neck": (17,),
    "cloth": (18,),
}

#: Regions that "face swap+" (paper 003) takes from the reference: every face part and the hair.
FACE_SWAP_CLASSES: tuple[int, ...] = (1, 2, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13)

#: facexlib's BiSeNet (face-parsing) order, index = their id.
BISENET_NAMES: tuple[str, ...] = (
    "background",
    "skin",
    "l_brow",
    "r_brow",
    "l_eye",
    "r_eye",
    "eye_g",
    "l_ear",
    "r_ear",
    "ear_r",
    "nose",
    "mouth",
    "u_lip",
    "l_lip",
    "neck",
    "neck_l",
    "cloth",
    "hair",
    "hat",
)

#: Lookup table: BiSeNet id -> our id.
BISENET_TO_OURS: np.ndarray = np.array([INDEX[n] for n in BISENET_NAMES], dtype=np.uint8)

#: Short aliases users may type on the command line.
ALIASES: dict[str, str] = {
    "bg": "background",
    "face": "skin",
    "glasses": "eye_g",
    "eyeglasses": "eye_g",
    "left_eye": "l_eye",
    "right_eye": "r_eye",
    "left_brow": "l_brow",
    "right_brow": "r_brow",
    "left_ear": "l_ear",
    "right_ear": "r_ear",
    "upper_lip": "u_lip",
    "lower_lip": "l_lip",
    "earring": "ear_r",
    "necklace": "neck_l",
    "clothes": "cloth",
}

#: Compound names that expand to several classes.
COMPOUNDS: dict[str, tuple[int, ...]] = {
    "eyes": (4, 5),
    "brows": (6, 7),
    "ears": (8, 9),
    "lips": (11, 12),
}


class UnknownRegionError(ValueError):
    """A region name that is not one of the 19 classes."""


def region_ids(name: str) -> tuple[int, ...]:
    """Resolve a user-typed region name (``hair``, ``upper_lip``, ``eyes``, ``13``) to class ids."""
    key = name.strip().lower().replace("-", "_").replace(" ", "_")
    if key.isdigit():
        i = int(key)
        if 0 <= i < NUM_CLASSES:
            return (i,)
    if key in COMPOUNDS:
        return COMPOUNDS[key]
    key = ALIASES.get(key, key)
    if key in INDEX:
        return (INDEX[key],)
    raise UnknownRegionError(
        f"unknown region {name!r}; choose one of: {', '.join(NAMES)} (or eyes, brows, ears, lips)"
    )


def colorize(mask: np.ndarray) -> np.ndarray:
    """Label map (H, W) of ids -> RGB uint8 visualisation. Out-of-range ids become magenta."""
    m = np.asarray(mask)
    out = np.empty(m.shape + (3,), np.uint8)
    valid = (m >= 0) & (m < NUM_CLASSES)
    out[valid] = COLORS[m[valid].astype(np.intp)]
    out[~valid] = (255, 0, 255)
    return out


def remap_bisenet(mask: np.ndarray) -> np.ndarray:
    """facexlib BiSeNet label map -> our label order."""
    m = np.asarray(mask)
    if m.size and (m.min() < 0 or m.max() >= len(BISENET_TO_OURS)):
        raise ValueError(f"BiSeNet labels must be in 0..{len(BISENET_TO_OURS) - 1}")
    return BISENET_TO_OURS[m.astype(np.intp)]
