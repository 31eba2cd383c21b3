"""The canvas: photo crop, mask overlay and result, with zoom, pan and the before/after split.

Views: "result" (result + overlay, paint on it), "side" (photo + overlay | result), "split" (before
left of a draggable divider, after right). Labels are drawn without smoothing when zoomed in, so
every screen pixel shows one class. Gallery thumbnails can be dropped onto regions.
"""

from __future__ import annotations

import time
from collections import deque

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPen, QTransform
from PySide6.QtWidgets import QWidget

from editor import qimage
from editor.canvas_input import CanvasInput
from editor.view import ViewTransform
from engine.labels import NUM_CLASSES

BG = QColor(43, 43, 46)
SHARP_ZOOM = 4.0  # from this zoom on, photo pixels are drawn as sharp squares for precise painting


class Canvas(CanvasInput, QWidget):
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
        self._result: QImage | None = None
        self._overlay: QImage | None = None
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
        ctl.pendingFreeChanged.connect(self._rebuild_free)
        ctl.openingChanged.connect(lambda _: self.update())

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
        self.view.actual_size()
        self.zoomChanged.emit(self.view.scale)
        self.update()

    def image_to_widget(self, x: float, y: float, pane: int = 0) -> QPointF:
        return QPointF(*self.view.to_widget(x, y, pane))

    def widget_to_image(self, p: QPointF) -> tuple[float, float]:
        return self.view.to_image(p.x(), p.y())

    def cancel_tool(self) -> None:
        if self.tool is not None:
            self.tool.cancel()
        self._tool_down = False
        self.update()

    # --- document hooks ---------------------------------------------------------------------------
    def _on_open(self) -> None:
        doc = self.ctl.doc
        self.view.set_image_size(doc.resolution)
        self.view.resize(self.width(), self.height())
        self.view.fit()
        self._photo = qimage.rgb_to_qimage(doc.crop)
        self._result = None
        self._rebuild_overlay()
        self._rebuild_free()
        self.zoomChanged.emit(self.view.scale)

    def _on_state(self, kind: str) -> None:
        if kind in ("mask", "all"):
            self._rebuild_overlay()
        if kind in ("free", "all", "mask"):
            self._rebuild_free()
        self.update()

    def _on_result(self) -> None:
        if self.ctl.result is not None:
            self._result = qimage.rgb_to_qimage(self.ctl.result)
        self.update()

    def _rebuild_overlay(self) -> None:
        mask = self.ctl.displayed_mask
        self._overlay = (
            None if mask is None else qimage.rgba_to_qimage(qimage.overlay_rgba(mask, self.visible))
        )
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

    # --- painting ---------------------------------------------------------------------------------
    def paintEvent(self, event) -> None:
        t0 = time.perf_counter()
        p = QPainter(self)
        p.fillRect(self.rect(), BG)
        if self.ctl.doc is None or self._photo is None:
            self._paint_welcome(p)
        else:
            self._paint_document(p)
        p.end()
        self.paint_times.append((time.perf_counter() - t0) * 1000.0)

    def _paint_welcome(self, p: QPainter) -> None:
        p.setPen(QColor(210, 210, 215))
        f = QFont(self.font())
        f.setPointSizeF(f.pointSizeF() * 1.3)
        p.setFont(f)
        if self.ctl.opening:
            text = "Opening the photo…\nFinding the face, parsing its regions and encoding its styles."
        else:
            text = "Open a photo of a face to start editing\n\n" + self.welcome_hint
        p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, text)

    def _image_transform(self, pane: int) -> QTransform:
        x, y, _, _ = self.view.image_rect(pane)
        s = self.view.scale
        return QTransform(s, 0, 0, s, x, y)

    def _paint_document(self, p: QPainter) -> None:
        v = self.view
        size = v.image_size
        full = QRectF(0, 0, size, size)
        result = self._result or self._photo
        for pane in range(v.pane_count):
            p.save()
            p.setClipRect(QRectF(v.pane_origin(pane), 0, v.pane_width, v.height))
            p.setTransform(self._image_transform(pane))
            p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, v.scale < SHARP_ZOOM)
            overlay_clip = None
            if v.mode == "side":
                p.drawImage(full, self._photo if pane == 0 else result)
                overlay_clip = full if pane == 0 else None
            elif v.mode == "split":
                cut = self.split * size
                left, right = QRectF(0, 0, cut, size), QRectF(cut, 0, size - cut, size)
                p.drawImage(left, self._photo, left)
                p.drawImage(right, result, right)
                overlay_clip = left
            else:
                p.drawImage(full, result)
                overlay_clip = full
            p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
            if overlay_clip is not None and self._overlay is not None and self.overlay_opacity > 0:
                p.setOpacity(self.overlay_opacity)
                p.drawImage(overlay_clip, self._overlay, overlay_clip)
                p.setOpacity(1.0)
            for img in (self._free, self._pending):
                if img is not None:
                    p.drawImage(full, img)
            hl = self.drop_regions or ((self.highlight,) if self.highlight is not None else ())
            hl_img = self._highlight_image(tuple(hl))
            if hl_img is not None:
                p.drawImage(full, hl_img)
            if pane == 0 or v.mode != "side":
                if self.tool is not None:
                    self.tool.paint(p, v.scale)
            p.restore()
        self._paint_chrome(p)

    def _paint_chrome(self, p: QPainter) -> None:
        v = self.view
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        small = QFont(self.font())
        p.setFont(small)
        if v.mode == "side":
            self._tag(p, QPointF(10, 10), "Photo + regions (paint here or on the result)")
            self._tag(p, QPointF(v.pane_width + 10, 10), self._result_title())
            p.setPen(QPen(QColor(80, 80, 86), 2))
            p.drawLine(QPointF(v.pane_width, 0), QPointF(v.pane_width, v.height))
        elif v.mode == "split":
            x, y, s, _ = v.image_rect(0)
            dx = x + self.split * s
            p.setPen(QPen(QColor(255, 255, 255), 2))
            p.drawLine(QPointF(dx, y), QPointF(dx, y + s))
            p.setBrush(QColor(255, 255, 255))
            p.drawEllipse(QPointF(dx, y + s / 2), 7, 7)
            p.setBrush(Qt.BrushStyle.NoBrush)
            self._tag(p, QPointF(10, 10), "Before ◂ drag the divider ▸ After")
            if not self.ctl.result_is_current:
                self._tag(p, QPointF(10, 36), "Regenerating…")
        else:
            self._tag(p, QPointF(10, 10), self._result_title())
        r = self.tool.radius() if self.tool is not None else None
        if r and self._cursor is not None and not self._space:
            p.setPen(QPen(QColor(0, 0, 0), 3))
            p.drawEllipse(self._cursor, r * v.scale, r * v.scale)
            p.setPen(QPen(QColor(255, 255, 255), 1))
            p.drawEllipse(self._cursor, r * v.scale, r * v.scale)
        if self.drop_text and self.drop_pos is not None:
            self._tag(
                p, self.drop_pos + QPointF(16, 16), self.drop_text, QColor(255, 230, 0), QColor(0, 0, 0)
            )

    def _result_title(self) -> str:
        if self.ctl.result is None:
            return "Result (generating…)"
        return "Result" if self.ctl.result_is_current else "Result (regenerating…)"

    def _tag(self, p: QPainter, at: QPointF, text: str, bg=QColor(0, 0, 0, 170), fg=QColor(255, 255, 255)):
        fm = p.fontMetrics()
        rect = QRectF(at, QPointF(at.x() + fm.horizontalAdvance(text) + 12, at.y() + fm.height() + 6))
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(bg)
        p.drawRoundedRect(rect, 4, 4)
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.setPen(fg)
        p.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)
