"""Zoom / pan / pane geometry of the canvas, Qt-free so that the mapping is easy to test.

widget point = pane origin + offset + scale * image point. The image is the photo (``image_w`` ×
``image_h`` photo pixels); at scale 1 (100 %) one photo pixel is one screen pixel. In side-by-side mode
the widget holds two panes of equal width sharing one scale and offset; painting in either pane maps to
the same pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

VIEW_MODES = ("result", "side", "split")
MIN_SCALE = 0.02
MAX_SCALE = 48.0
FIT_MARGIN = 0.94


@dataclass
class ViewTransform:
    width: int = 1
    height: int = 1
    image_w: int = 256
    image_h: int = 256
    mode: str = "side"
    scale: float = 1.0
    ox: float = 0.0
    oy: float = 0.0
    fitted: bool = True  # follow the widget size until the user zooms or pans

    # --- panes ----------------------------------------------------------------------------------
    @property
    def pane_count(self) -> int:
        return 2 if self.mode == "side" else 1

    @property
    def pane_width(self) -> float:
        return self.width / self.pane_count

    def pane_origin(self, index: int) -> float:
        return index * self.pane_width

    def pane_at(self, wx: float) -> int:
        if self.pane_count == 1:
            return 0
        return 1 if wx >= self.pane_width else 0

    # --- mapping --------------------------------------------------------------------------------
    def to_image(self, wx: float, wy: float) -> tuple[float, float]:
        px = self.pane_origin(self.pane_at(wx))
        return ((wx - px - self.ox) / self.scale, (wy - self.oy) / self.scale)

    def to_widget(self, ix: float, iy: float, pane: int = 0) -> tuple[float, float]:
        return (self.pane_origin(pane) + self.ox + ix * self.scale, self.oy + iy * self.scale)

    def image_rect(self, pane: int = 0) -> tuple[float, float, float, float]:
        """(x, y, w, h) of the whole image in widget coordinates."""
        x, y = self.to_widget(0, 0, pane)
        return (x, y, self.image_w * self.scale, self.image_h * self.scale)

    # --- changes --------------------------------------------------------------------------------
    def resize(self, width: int, height: int) -> None:
        self.width, self.height = max(int(width), 1), max(int(height), 1)
        if self.fitted:
            self.fit()

    def set_mode(self, mode: str) -> None:
        if mode not in VIEW_MODES:
            raise ValueError(f"unknown view mode {mode!r}; one of {', '.join(VIEW_MODES)}")
        if mode != self.mode:
            self.mode = mode
            self.fit()

    def set_image_size(self, width: int, height: int | None = None) -> None:
        w, h = int(width), int(width if height is None else height)
        if (w, h) != (self.image_w, self.image_h):
            self.image_w, self.image_h = w, h
            self.fit()

    def fit(self) -> None:
        pw, h = self.pane_width, self.height
        self.scale = max(MIN_SCALE, FIT_MARGIN * min(pw / self.image_w, h / self.image_h))
        self.ox = (pw - self.image_w * self.scale) / 2
        self.oy = (h - self.image_h * self.scale) / 2
        self.fitted = True

    def actual_size(self, centre: tuple[float, float] | None = None) -> None:
        """100 %: one photo pixel per screen pixel, centred on ``centre`` (photo point; default the
        middle of the photo), on whole screen pixels so that photo pixels land on screen pixels."""
        cx, cy = centre if centre is not None else (self.image_w / 2, self.image_h / 2)
        self.scale = 1.0
        self.ox = float(round(self.pane_width / 2 - cx))
        self.oy = float(round(self.height / 2 - cy))
        self.fitted = False

    def zoom_to(self, scale: float, wx: float, wy: float) -> None:
        """Zoom keeping the image point under widget point (wx, wy) fixed."""
        scale = min(max(scale, MIN_SCALE), MAX_SCALE)
        ix, iy = self.to_image(wx, wy)
        px = self.pane_origin(self.pane_at(wx))
        self.scale = scale
        self.ox = wx - px - ix * scale
        self.oy = wy - iy * scale
        self.fitted = False

    def zoom_by(self, factor: float, wx: float | None = None, wy: float | None = None) -> None:
        if wx is None or wy is None:
            wx, wy = self.pane_width / 2, self.height / 2
        self.zoom_to(self.scale * factor, wx, wy)

    def pan(self, dx: float, dy: float) -> None:
        self.ox += dx
        self.oy += dy
        self.fitted = False
