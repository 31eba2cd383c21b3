"""FaceEngine: prepares photos and references, and renders edit states through its parts.

It is Qt-free and thread-confined: the editor uses one instance from its single worker thread, the CLI
and tests use it directly. Per image it aligns, parses and encodes once; per edit it resolves the
state's overrides to style codes, harmonises them, regenerates and composites.

The composite modes are described in :mod:`engine.rendering`, the harmonisers in :mod:`engine.harmonise`.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch

from engine import labels, workmask
from engine.bundle import Bundle, BundleError
from engine.composite import affine_scale
from engine.face import Alignment, crop_with_matrix, detect_and_align, manual_alignment, whole_image_alignment
from engine.imageio import ImageError, LoadedImage, load_image
from engine.maskops import resample_labels
from engine.networks import Networks
from engine.photoview import ViewRender
from engine.prepared import EngineError, PreparedImage, ReferenceStore
from engine.rendering import Renderer
from engine.state import EditState, FreeRegion, StateError
from engine.styles import ResolvedStyles, StyleResolver, recolor


def image_id(rgb: np.ndarray, tag: str = "") -> str:
    h = hashlib.sha1(np.ascontiguousarray(rgb).tobytes())
    h.update(f"{rgb.shape}{tag}".encode())
    return h.hexdigest()[:16]


def _as_loaded(photo) -> LoadedImage:
    if isinstance(photo, LoadedImage):
        return photo
    if isinstance(photo, (str, Path)):
        try:
            return load_image(photo)
        except ImageError as e:
            raise EngineError(str(e)) from None
    if isinstance(photo, np.ndarray):
        if photo.ndim != 3 or photo.shape[2] != 3 or photo.dtype != np.uint8:
            raise EngineError(f"an image array must be H×W×3 uint8, got {photo.dtype} {photo.shape}")
        if min(photo.shape[:2]) < 16:
            raise EngineError(f"image is {photo.shape[1]}×{photo.shape[0]}, too small to contain a face")
        return LoadedImage.from_array(np.ascontiguousarray(photo))
    raise EngineError(f"cannot open {type(photo).__name__} as a photo")


class FaceEngine:
    """Aligns, parses and encodes photos and references, and renders edit states.

    Built from three parts with one job each: the bundle's networks (:class:`engine.networks.Networks`),
    the style resolver (:class:`engine.styles.StyleResolver`) and the renderer
    (:class:`engine.rendering.Renderer`). The methods below are the engine's public face; each says
    which part does the work."""

    def __init__(self, bundle: Bundle, *, parser=None, detector: str = "auto", max_references: int = 48):
        self.bundle = bundle
        self.device = bundle.device
        self.resolution = bundle.resolution
        self.detector = detector
        self.nets = Networks.from_bundle(bundle)
        self._parser = parser
        self.refs = ReferenceStore(max_references)
        self.styles = StyleResolver(self.nets, self.refs, self.device)
        self.renderer = Renderer(self.nets, self.styles, self.refs, self.device, bundle.autocast)

    # --- device / info ------------------------------------------------------------------------
    @property
    def device_label(self) -> str:
        if self.device.type == "cuda":
            return f"CUDA ({torch.cuda.get_device_name(self.device)})"
        return f"CPU ({torch.get_num_threads()} threads)"

    @property
    def parser(self):
        if self._parser is None:
            from engine.parsing import ParserUnavailable, make_parser

            try:
                self._parser = make_parser("bundle", bundle=self.bundle, device=self.device)
            except (ParserUnavailable, BundleError) as e:
                raise EngineError(str(e)) from None
        return self._parser

    @property
    def parse_size(self) -> int:
        """The crop size the parser reads: the bundle parser's ``parser_resolution`` (it may be
        trained finer than the generator), else the bundle's resolution."""
        if self._parser is None or getattr(self._parser, "name", "") == "bundle":
            return int(self.bundle.meta.get("parser_resolution", self.resolution))
        return self.resolution

    def _parse(self, rgb: np.ndarray, alignment: Alignment, work: int) -> tuple[np.ndarray, np.ndarray]:
        """The parse of the aligned crop at the bundle's resolution and on the working grid (side
        ``work``); a parser that reads finer crops gets its own crop from the photo, and its labels are
        resampled class by class."""
        size, R = self.parse_size, self.resolution
        if size == R:
            labels_ = np.asarray(self.parser.parse(alignment.crop), np.uint8)
        else:
            fine = crop_with_matrix(rgb, alignment.matrix * (size / R), size)
            labels_ = np.asarray(self.parser.parse(fine), np.uint8)
        return resample_labels(labels_, R), resample_labels(labels_, work)

    def encode(self, crop: np.ndarray, mask: np.ndarray) -> torch.Tensor:
        return self.styles.encode(crop, mask)

    # --- open / references --------------------------------------------------------------------
    def prepare(
        self,
        photo,
        *,
        alignment: Alignment | None = None,
        parsed_mask: np.ndarray | None = None,
        align: bool = True,
        crop_box: tuple[float, float, float] | None = None,
        parsed_work: np.ndarray | None = None,
        work_scale: int | None = None,
    ) -> PreparedImage:
        """Load, detect and align, parse and encode one photo.

        The state's mask is painted on a working grid ``work_scale`` (1, 2 or 4; None: from the photo's
        size, :func:`engine.workmask.work_scale_for`) times finer than the networks' crop;
        ``parsed_work`` is a saved parse on that grid (with ``parsed_mask``, a saved session's).

        ``crop_box`` = (centre x, centre y, side) in photo pixels places the crop by hand (for photos
        where no face is found, or to frame it differently)."""
        img = _as_loaded(photo)
        R = self.resolution
        if alignment is None and crop_box is not None:
            try:
                cx, cy, side = (float(v) for v in crop_box)
                alignment = manual_alignment(img.rgb, (cx, cy), side, R)
            except (TypeError, ValueError) as e:
                raise EngineError(f"bad crop box {crop_box!r}: {e}") from None
        if alignment is None:
            try:
                alignment = (
                    detect_and_align(img.rgb, size=R, detector=self.detector)
                    if align
                    else whole_image_alignment(img.rgb, R)
                )
            except (ValueError, RuntimeError) as e:
                raise EngineError(f"face detection failed: {e}") from None
        crop = alignment.crop
        if work_scale is None:
            work_scale = workmask.work_scale_for(1.0 / max(affine_scale(alignment.matrix), 1e-9))
        if isinstance(work_scale, bool) or work_scale not in (1, 2, 4):
            raise EngineError(f"the working mask's scale must be 1, 2 or 4, got {work_scale!r}")
        W = R * int(work_scale)
        if parsed_mask is None:
            parsed_mask, parsed_work = self._parse(img.rgb, alignment, W)
        if parsed_mask.shape != (R, R):
            raise EngineError(f"parsed mask is {parsed_mask.shape}, expected {(R, R)}")
        if parsed_work is None:
            parsed_work = workmask.to_work(parsed_mask, W)
        if parsed_work.shape != (W, W):
            raise EngineError(f"the working parse is {parsed_work.shape}, expected {(W, W)}")
        styles = self.encode(crop, parsed_mask)
        present = np.bincount(parsed_mask.ravel(), minlength=labels.NUM_CLASSES) > 0
        return PreparedImage(
            id=image_id(img.rgb, "" if align else "unaligned"),
            photo=img,
            alignment=alignment,
            crop=crop,
            parsed_mask=parsed_mask,
            styles=styles,
            present=present,
            aligned=align,
            source=str(img.path or ""),
            parsed_work=None if W == R else parsed_work,
        )

    def initial_state(self, prepared: PreparedImage, **settings) -> EditState:
        return EditState(mask=prepared.work_mask, **settings)

    def add_reference(self, photo, *, align: bool = True) -> str:
        """Prepare and encode a reference once; returns its id (a content hash)."""
        if isinstance(photo, PreparedImage):
            prep = photo
        else:
            prep = self.prepare(photo, align=align)
        if prep.photo.rgb.shape[:2] != prep.crop.shape[:2]:
            # A reference needs only its crop, mask and styles: keep its hash, drop the full photo.
            prep.sha256 = (
                prep.sha256 or hashlib.sha256(np.ascontiguousarray(prep.photo.rgb).tobytes()).hexdigest()
            )
            prep.photo = LoadedImage.from_array(prep.crop)
        return self.refs.add(prep)

    def reference(self, ref_id: str) -> PreparedImage:
        return self.refs.get(ref_id)

    def reference_crop(self, ref_id: str) -> np.ndarray:
        return self.refs.get(ref_id).crop

    def has_reference(self, ref_id: str) -> bool:
        return ref_id in self.refs

    # --- styles (StyleResolver) ---------------------------------------------------------------
    def rsm_groups(self) -> dict[str, tuple[int, ...]]:
        return self.styles.rsm_groups()

    def resolve(self, prep: PreparedImage, state: EditState) -> ResolvedStyles:
        return self.styles.resolve(prep, self.renderer.model_state(prep, state))

    def tune_style(self, style: torch.Tensor, region: int, seed: int, eta: float) -> torch.Tensor:
        return self.styles.tune_style(style, region, seed, eta)

    # --- pictures (Renderer) ------------------------------------------------------------------
    def generate(self, prep: PreparedImage, state: EditState) -> np.ndarray:
        return self.renderer.generate(prep, state)

    def render(self, prep: PreparedImage, state: EditState) -> np.ndarray:
        return self.renderer.render(prep, state)

    def compose_full(self, prep: PreparedImage, state: EditState, crop_result: np.ndarray | None = None):
        return self.renderer.compose_full(prep, state, crop_result)

    def render_view(self, prep: PreparedImage, state: EditState, scale: float | None = None,
                    visible=None, stop=None) -> ViewRender:  # fmt: skip
        """The crop result and the change of the photo-space view since the last call for this image
        (:meth:`engine.rendering.Renderer.view`, at ``scale``, None: the finest; ``visible``: the photo
        box on screen, composed first): what the editor shows. ``stop()``, asked between the stages
        (generator, reshape plan, composite, view), True: give up with
        :class:`engine.errors.Superseded` (the view is left as it was)."""
        self.renderer.stop = stop
        try:
            crop = self.render(prep, state)
            self.renderer.checkpoint()
            return ViewRender(crop, self.renderer.view(prep, state, scale, visible))
        finally:
            self.renderer.stop = None

    def is_unedited(self, prep: PreparedImage, state: EditState) -> bool:
        return self.renderer.is_unedited(prep, state)

    def changed_region(self, prep: PreparedImage, state: EditState) -> np.ndarray:
        return self.renderer.changed_region(prep, state)


__all__ = [
    "EngineError",
    "FaceEngine",
    "FreeRegion",
    "PreparedImage",
    "StateError",
    "image_id",
    "recolor",
]
