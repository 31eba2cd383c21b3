"""Drawing the canvas (mixed into editor.canvas.Canvas): the photo from its pyramid, the result and
overlay layers over the crop's footprint, the crop outline, the split divider, tags and the welcome
screen. Every layer is placed by a transform from its own pixels to the widget's."""

from __future__ import annotations

import time

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPen, QTransform

BG = QColor(43, 43, 46)
SHARP_ZOOM = 4.0  # from this zoom on, photo pixels are drawn as sharp squares for precise painting


class CanvasPainting:
    """paintEvent and its helpers; expects the Canvas attributes (view, frame, layers, ctl, ...)."""

    # --- painting ---------------------------------------------------------------------------------
    def paintEvent(self, event) -> None:
        t0 = time.perf_counter()
        p = QPainter(self)
        p.fillRect(self.rect(), BG)
        if self._photo is None:
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

    def _photo_transform(self, pane: int) -> QTransform:
        """Photo coordinates -> widget."""
        x, y, _, _ = self.view.image_rect(pane)
        s = self.view.scale
        return QTransform(s, 0, 0, s, x, y)

    def _crop_transform(self, pane: int) -> QTransform:
        """Crop (mask) coordinates -> widget."""
        a = self.frame.crop_to_photo_affine()
        t = QTransform(a[0, 0], a[1, 0], a[0, 1], a[1, 1], a[0, 2], a[1, 2])
        return t * self._photo_transform(pane)

    def _layer_transform(self, pane: int, frame=None) -> QTransform:
        """View-box pixels (the result and overlay layers) -> widget."""
        f = frame or self.frame
        k = 1.0 / f.scale
        x0, y0 = f.box[:2]
        return QTransform(k, 0, 0, k, x0 * k, y0 * k) * self._photo_transform(pane)

    def _draw_photo(self, p: QPainter, pane: int, clip: QRectF) -> None:
        """The photo (from the smallest pyramid copy still finer than the screen), in ``clip``
        (photo coordinates)."""
        img, s = self._photo, 1.0
        for ps, pimg in self._pyramid:
            if ps >= self.view.scale:
                img, s = pimg, ps
        p.save()
        p.setTransform(QTransform(1.0 / s, 0, 0, 1.0 / s, 0, 0) * self._photo_transform(pane))
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, self.view.scale * 1.0 / s < SHARP_ZOOM)
        src = QRectF(clip.x() * s, clip.y() * s, clip.width() * s, clip.height() * s)
        p.drawImage(src, img, src)
        p.restore()

    def _draw_layer(self, p: QPainter, pane: int, img: QImage, clip: QRectF, opacity: float = 1.0,
                    frame=None) -> None:  # fmt: skip
        """A view-box layer, in ``clip`` (photo coordinates)."""
        f = frame or self.frame
        p.save()
        p.setClipRect(self._photo_transform(pane).mapRect(clip), Qt.ClipOperation.IntersectClip)
        p.setTransform(self._layer_transform(pane, f))
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
        p.setOpacity(opacity)
        w, h = f.box_size
        p.drawImage(QRectF(0, 0, w, h), img)
        p.restore()

    def _paint_document(self, p: QPainter) -> None:
        v = self.view
        W, H = v.image_w, v.image_h
        full = QRectF(0, 0, W, H)
        for pane in range(v.pane_count):
            p.save()
            p.setClipRect(QRectF(v.pane_origin(pane), 0, v.pane_width, v.height))
            # only what the pane shows of the photo is drawn
            inv, _ = self._photo_transform(pane).inverted()
            seen = inv.mapRect(QRectF(v.pane_origin(pane), 0, v.pane_width, v.height)).intersected(full)
            if seen.isEmpty():
                p.restore()
                continue
            seen = QRectF(np.floor(seen.x()), np.floor(seen.y()), np.ceil(seen.width()) + 1,
                          np.ceil(seen.height()) + 1).intersected(full)  # fmt: skip
            if v.mode == "side":
                photo_part, result_part = (seen, None) if pane == 0 else (None, seen)
            elif v.mode == "split":
                cut = self.split * W
                photo_part = QRectF(0, 0, cut, H).intersected(seen)
                result_part = QRectF(cut, 0, W - cut, H).intersected(seen)
            else:
                photo_part, result_part = None, seen
            self._draw_photo(p, pane, seen)
            if self.frame is not None and self._shown is None:
                if result_part is not None and not result_part.isEmpty() and self._result is not None:
                    self._draw_layer(p, pane, self._result, result_part, frame=self.rframe)
                overlay_part = photo_part if v.mode != "result" else seen
                if (overlay_part is not None and not overlay_part.isEmpty() and self._overlay is not None
                        and self.overlay_opacity > 0):  # fmt: skip
                    self._draw_layer(p, pane, self._overlay, overlay_part, self.overlay_opacity)
                self._draw_crop_layers(p, pane)
            p.restore()
        self._paint_chrome(p)

    def _draw_crop_layers(self, p: QPainter, pane: int) -> None:
        """The crop's outline, free regions, highlights and the tool's feedback (crop coordinates)."""
        v = self.view
        p.save()
        p.setTransform(self._photo_transform(pane))
        pts = [QPointF(float(x), float(y)) for x, y in self.frame.crop_corners()]
        pen = QPen(QColor(255, 255, 255, 150), 0)
        pen.setStyle(Qt.PenStyle.DashLine)
        p.setPen(pen)
        p.drawPolygon(pts)
        p.setTransform(self._crop_transform(pane))
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
        size = self.frame.crop_size
        full = QRectF(0, 0, size, size)
        for img in (self._free, self._pending):
            if img is not None:
                p.drawImage(full, img)
        hl = self.drop_regions or ((self.highlight,) if self.highlight is not None else ())
        hl_img = self._highlight_image(tuple(hl))
        if hl_img is not None:
            p.drawImage(full, hl_img)
        if (pane == 0 or v.mode != "side") and self.tool is not None:
            self.tool.paint(p, self.crop_scale)
        p.restore()

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
            x, y, s, sh = v.image_rect(0)
            dx = x + self.split * s
            p.setPen(QPen(QColor(255, 255, 255), 2))
            p.drawLine(QPointF(dx, y), QPointF(dx, y + sh))
            p.setBrush(QColor(255, 255, 255))
            p.drawEllipse(QPointF(dx, y + sh / 2), 7, 7)
            p.setBrush(Qt.BrushStyle.NoBrush)
            self._tag(p, QPointF(10, 10), "Before ◂ drag the divider ▸ After")
            if not self.ctl.result_is_current:
                self._tag(p, QPointF(10, 36), "Regenerating…")
        else:
            self._tag(p, QPointF(10, 10), self._result_title())
        if self._shown is not None:
            self._tag(p, QPointF(10, 36), "Finding the face and parsing its regions…")
        r = self.tool.radius() if self.tool is not None else None
        if r and self._cursor is not None and not self._space:
            p.setPen(QPen(QColor(0, 0, 0), 3))
            rs = r * self.crop_scale
            p.drawEllipse(self._cursor, rs, rs)
            p.setPen(QPen(QColor(255, 255, 255), 1))
            p.drawEllipse(self._cursor, rs, rs)
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
