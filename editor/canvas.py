"""The canvas: the whole photo at its own resolution, the mask overlay and the result drawn over it,
with zoom, pan and the before/after split.

Views: "result" (result + overlay, paint on it), "side" (photo + overlay | result), "split" (before
left of a draggable divider, after right). The canvas works in photo coordinates (100 % zoom: one photo
pixel per screen pixel); the aligned crop the model works on is outlined. The result and the overlay
are layers over the crop's footprint at the engine's view scale (`editor.photoframe`): the result is the
engine's photo-space composite (the export's paste), updated box by box as renders arrive; the overlay
is the mask carried into the photo class by class, with smooth edges. Tools get crop coordinates
(``widget_to_image``), so a stroke lands where it was drawn on the photo. Zoomed out, the photo is
drawn from a pyramid of halved copies, so a 24 MP photo draws as fast as a small one.
"""

from __future__ import annotations

from collections import deque

import numpy as np
from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QWidget

from editor import qimage
from editor.canvas_input import CanvasInput
from editor.canvas_paint import CanvasPainting
from editor.jobs import photo_pyramid
from editor.photoframe import PhotoFrame, PhotoOverlay
from editor.view import ViewTransform
from engine.labels import NUM_CLASSES
from engine.session import view_scale


class Canvas(CanvasInput, CanvasPainting, QWidget):
    fileDropped = Signal(str)
    zoomChanged = Signal(float)

    def __init__(self, ctl, parent=None):
        super().__init__(parent)
        self.ctl = ctl
        self.view = ViewTransform()
        self.tool = None
        self.overlay_opacity = 0.45
        self.visible = np.ones(NUM_CLASSES, bool)
        self.visible[0] = False  # background is not tinted by default
        self.highlight: int | None = None  # legend hover
        self.drop_regions: tuple[int, ...] = ()
        self.drop_text = ""
        self.drop_pos: QPointF | None = None
        self.split = 0.5  # divider position, fraction of the image width
        self.paint_times: deque[float] = deque(maxlen=2000)
        self.welcome_hint = "File ▸ Open (Ctrl+O), or drop a photo onto this window."
        self._photo: QImage | None = None
        self._pyramid: list[tuple[float, QImage]] = []  # (scale of the copy, copy), halving
        self._shown: np.ndarray | None = None  # a photo shown before its document opened
        self._levels: list[np.ndarray] = []  # the photo and its halved copies (QImages wrap them)
        self.frame: PhotoFrame | None = None  # photo <-> crop, and the overlay's view box
        self.rframe: PhotoFrame | None = None  # the result layer's view box (its scale follows the zoom)
        self._photo_overlay: PhotoOverlay | None = None
        self._result_rgba: np.ndarray | None = None  # view-box RGBA: the composite where it differs
        self._result: QImage | None = None
        self._overlay: QImage | None = None
        self.view_updates = 0  # composite boxes received (bench)
        self._free: QImage | None = None
        self._pending: QImage | None = None
        self._hl_cache: tuple | None = None
        self._space = False
        self._pan_from: QPointF | None = None
        self._divider_drag = False
        self._tool_down = False
        self._cursor: QPointF | None = None
        self.setMouseTracking(True)
        self.setAcceptDrops(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMinimumSize(320, 240)
        ctl.documentOpened.connect(self._on_open)
        ctl.stateChanged.connect(self._on_state)
        ctl.previewChanged.connect(self._rebuild_overlay)
        ctl.resultChanged.connect(self._on_result)
        ctl.viewChanged.connect(self._on_view)
        self.zoomChanged.connect(self._zoom_changed)
        ctl.pendingFreeChanged.connect(self._rebuild_free)
        ctl.openingChanged.connect(self._opening_changed)
        ctl.photoLoaded.connect(self.show_photo)

    # --- public API -------------------------------------------------------------------------------
    def set_tool(self, tool) -> None:
        if self.tool is not None:
            self.tool.cancel()
        self.tool = tool
        self._tool_down = False
        self._update_cursor()
        self.update()

    def set_mode(self, mode: str) -> None:
        self.view.set_mode(mode)
        self.zoomChanged.emit(self.view.scale)
        self.update()

    def set_overlay_opacity(self, value: float) -> None:
        self.overlay_opacity = float(min(max(value, 0.0), 1.0))
        self.update()

    def set_visible(self, region: int, visible: bool) -> None:
        self.visible[region] = visible
        if self._photo_overlay is not None:
            self._photo_overlay.set_visible(self.visible)
        self._rebuild_overlay()

    def set_highlight(self, region: int | None) -> None:
        if region != self.highlight:
            self.highlight = region
            self.update()

    def zoom_in(self) -> None:
        self._zoom(1.25)

    def zoom_out(self) -> None:
        self._zoom(0.8)

    def _zoom(self, factor, wx=None, wy=None) -> None:
        self.view.zoom_by(factor, wx, wy)
        self.zoomChanged.emit(self.view.scale)
        self.update()

    def fit(self) -> None:
        self.view.fit()
        self.zoomChanged.emit(self.view.scale)
        self.update()

    def actual_size(self) -> None:
        """100 %: photo pixels 1:1 on screen, centred on the face."""
        centre = None
        if self.frame is not None:
            centre = tuple(self.frame.crop_corners().mean(axis=0))
        self.view.actual_size(centre)
        self.zoomChanged.emit(self.view.scale)
        self.update()

    # --- coordinates: widget <-> photo <-> crop (the mask's frame, what tools get) ----------------
    def photo_to_widget(self, x: float, y: float, pane: int = 0) -> QPointF:
        return QPointF(*self.view.to_widget(x, y, pane))

    def widget_to_photo(self, p: QPointF) -> tuple[float, float]:
        return self.view.to_image(p.x(), p.y())

    def image_to_widget(self, x: float, y: float, pane: int = 0) -> QPointF:
        """Crop (mask) point -> widget point."""
        if self.frame is not None:
            x, y = self.frame.crop_to_photo(x, y)
        return QPointF(*self.view.to_widget(x, y, pane))

    def widget_to_image(self, p: QPointF) -> tuple[float, float]:
        """Widget point -> crop (mask) point."""
        x, y = self.view.to_image(p.x(), p.y())
        return self.frame.photo_to_crop(x, y) if self.frame is not None else (x, y)

    @property
    def crop_scale(self) -> float:
        """Widget pixels per crop pixel."""
        return self.view.scale * (self.frame.crop_px if self.frame is not None else 1.0)

    def cancel_tool(self) -> None:
        if self.tool is not None:
            self.tool.cancel()
        self._tool_down = False
        self.update()

    # --- document hooks ---------------------------------------------------------------------------
    def show_photo(self, loaded) -> None:
        """Show a photo at once (while it is still being parsed): ``loaded`` is a
        ``jobs.LoadedPhoto`` (its pyramid made in the worker) or an H×W×3 array."""
        rgb = loaded.image.rgb if hasattr(loaded, "image") else np.asarray(loaded)
        self._set_photo(rgb, getattr(loaded, "pyramid", None))
        self._shown = rgb
        self.update()

    def _set_photo(self, rgb: np.ndarray, pyramid=None) -> None:
        h, w = rgb.shape[:2]
        if pyramid is None:
            pyramid = photo_pyramid(rgb)
        self._levels = [np.ascontiguousarray(rgb), *(np.ascontiguousarray(x) for x in pyramid)]
        self._photo = self._wrap_rgb(self._levels[0])
        self._pyramid = [(level.shape[1] / w, self._wrap_rgb(level)) for level in self._levels[1:]]
        self.view.set_image_size(w, h)
        self.view.resize(self.width(), self.height())
        self.view.fit()
        self.zoomChanged.emit(self.view.scale)

    @staticmethod
    def _wrap_rgb(rgb: np.ndarray) -> QImage:
        """A QImage over ``rgb``'s buffer, no copy (the array is kept in ``_levels``)."""
        h, w = rgb.shape[:2]
        return QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888)

    def _opening_changed(self, opening: bool) -> None:
        doc = self.ctl.doc
        opened = doc is not None and doc.prepared.photo.rgb is self._shown
        if not opening and self._shown is not None and not opened:  # it never opened: back to the document
            self._shown = None
            if self.ctl.doc is not None:
                self._set_photo(self.ctl.doc.prepared.photo.rgb)
            else:
                self._photo = None
                self._pyramid = []
        self.update()

    def _on_open(self) -> None:
        doc = self.ctl.doc
        prep = doc.prepared
        rgb = prep.photo.rgb
        if rgb is not self._shown:  # else it is on screen already, shown while it was parsed
            self._set_photo(rgb)
        self._shown = None
        matrix = doc.mask_matrix  # the painted mask's frame: tools get its coordinates
        scale = view_scale(rgb.shape, matrix, doc.resolution)
        self.frame = PhotoFrame(rgb.shape, matrix, doc.resolution, scale)
        self._photo_overlay = PhotoOverlay(self.frame)
        self._photo_overlay.set_visible(self.visible)
        self._set_result_frame(self.wanted_view_scale())
        self.ctl.set_view_scale(self.rframe.scale, self.visible_photo_box())
        self._rebuild_overlay()
        self._rebuild_free()
        self.update()

    @staticmethod
    def _wrap(rgba: np.ndarray) -> QImage:
        """A QImage over ``rgba``'s own buffer (the array must outlive it; it is kept next to it)."""
        h, w = rgba.shape[:2]
        return QImage(rgba.data, w, h, 4 * w, QImage.Format.Format_RGBA8888)

    def _on_state(self, kind: str) -> None:
        if kind in ("mask", "all"):
            self._rebuild_overlay()
        if kind in ("free", "all", "mask"):
            self._rebuild_free()
        self.update()

    def _on_result(self) -> None:
        self.update()

    def _set_result_frame(self, scale: float) -> None:
        f = self.frame
        self.rframe = PhotoFrame((f.height, f.width), f.matrix, f.crop_size, scale)
        w, h = self.rframe.box_size
        self._result_rgba = np.zeros((h, w, 4), np.uint8)
        self._result = self._wrap(self._result_rgba)

    def wanted_view_scale(self) -> float:
        """The result layer's scale for the current zoom: the next power of two at or above the zoom
        (so the screen never shows it enlarged from coarser than 1:1), at most the engine's finest."""
        if self.frame is None:
            return 1.0
        z = max(self.view.scale, 1e-3)
        return float(min(self.frame.scale, 2.0 ** np.ceil(np.log2(z))))

    def _zoom_changed(self, _scale: float = 0.0) -> None:
        if self.frame is not None and self.ctl.doc is not None:
            self.ctl.set_view_scale(self.wanted_view_scale(), self.visible_photo_box())

    def visible_photo_box(self) -> tuple[int, int, int, int] | None:
        """The photo box (x0, y0, x1, y1) the panes show, rounded out to 64 px so small pans ask
        for nothing new."""
        v = self.view
        if self.frame is None:
            return None
        x0, y0 = -v.ox / v.scale, -v.oy / v.scale  # every pane shows the same photo box
        x1, y1 = (v.pane_width - v.ox) / v.scale, (v.height - v.oy) / v.scale
        q = 64
        box = (max(0, int(np.floor(x0 / q)) * q), max(0, int(np.floor(y0 / q)) * q),
               min(v.image_w, int(np.ceil(x1 / q)) * q), min(v.image_h, int(np.ceil(y1 / q)) * q))  # fmt: skip
        if box[0] <= 0 and box[1] <= 0 and box[2] >= v.image_w and box[3] >= v.image_h:
            return None  # the whole photo
        return box

    def _on_view(self, upd) -> None:
        """Paste a composite box from the engine into the result layer (a new scale: a new layer; the
        engine's first update at a scale covers the whole footprint)."""
        if upd is None or self.frame is None or self.rframe is None:
            return
        if abs(upd.scale - self.rframe.scale) > 1e-9 or upd.fresh:
            self._set_result_frame(upd.scale)
        bx0, by0 = self.rframe.box[:2]
        x0, y0, x1, y1 = upd.box
        H, W = self._result_rgba.shape[:2]
        ox0, oy0 = max(x0 - bx0, 0), max(y0 - by0, 0)
        ox1, oy1 = min(x1 - bx0, W), min(y1 - by0, H)
        if ox1 <= ox0 or oy1 <= oy0:
            return
        sy = slice(oy0 + by0 - y0, oy1 + by0 - y0)
        sx = slice(ox0 + bx0 - x0, ox1 + bx0 - x0)
        dst = self._result_rgba[oy0:oy1, ox0:ox1]
        dst[..., :3] = upd.rgb[sy, sx]
        dst[..., 3] = np.where(upd.changed[sy, sx], 255, 0)
        self.view_updates += 1
        self.update()

    def _layer_pixel(self, layer: np.ndarray | None, x: float, y: float, frame=None):
        """The view-box layer's pixel under crop point (x, y), or None outside the box."""
        frame = frame or self.frame
        if layer is None or frame is None:
            return None
        px, py = frame.crop_to_photo(x, y)
        bx0, by0 = frame.box[:2]
        i, j = int(np.floor(py * frame.scale)) - by0, int(np.floor(px * frame.scale)) - bx0
        if not (0 <= i < layer.shape[0] and 0 <= j < layer.shape[1]):
            return None
        return layer[i, j]

    def overlay_at(self, x: float, y: float):
        """RGBA of the mask overlay over crop point (x, y) (None outside the crop's footprint)."""
        return self._layer_pixel(None if self._photo_overlay is None else self._photo_overlay.rgba, x, y)

    def result_at(self, x: float, y: float):
        """RGBA of the result layer over crop point (x, y): alpha 0 where the result is the photo."""
        return self._layer_pixel(self._result_rgba, x, y, self.rframe)

    @property
    def composite_bytes(self) -> int:
        """Bytes the canvas holds for the result and overlay layers."""
        n = 0 if self._result_rgba is None else self._result_rgba.nbytes
        if self._photo_overlay is not None:
            o = self._photo_overlay
            n += o.rgba.nbytes + o.labels.nbytes + o.covered.nbytes
        return n

    def _rebuild_overlay(self) -> None:
        mask = self.ctl.displayed_mask
        if mask is None or self._photo_overlay is None:
            self._overlay = None
        else:
            self._photo_overlay.update(mask)
            self._overlay = self._wrap(self._photo_overlay.rgba)
        self._hl_cache = None
        self.update()

    def _rebuild_free(self) -> None:
        doc = self.ctl.doc
        self._free = self._pending = None
        if doc is not None and doc.state.free_regions:
            union = np.zeros(doc.state.mask.shape, bool)
            for fr in doc.state.free_regions:
                union |= fr.mask()
            self._free = qimage.rgba_to_qimage(
                qimage.region_rgba(qimage.outline(union), (255, 255, 255), 200)
            )
        if self.ctl.pending_free is not None:
            p = self.ctl.pending_free
            rgba = qimage.region_rgba(p, (255, 255, 255), 60)
            rgba[qimage.outline(p)] = (255, 230, 0, 255)
            self._pending = qimage.rgba_to_qimage(rgba)
        self.update()

    def _highlight_image(self, regions: tuple[int, ...]) -> QImage | None:
        mask = self.ctl.displayed_mask
        if mask is None or not regions:
            return None
        key = (regions, id(mask))
        if self._hl_cache is None or self._hl_cache[0] != key:
            where = np.isin(mask, regions)
            rgba = qimage.region_rgba(where, (255, 230, 0), 90)
            rgba[qimage.outline(where)] = (255, 230, 0, 255)
            self._hl_cache = (key, qimage.rgba_to_qimage(rgba))
        return self._hl_cache[1]
