"""The tool bar: tools (exclusive), brush size, eraser mode, stroke colour and overlay opacity."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QActionGroup, QColor, QIcon, QKeySequence, QPixmap
from PySide6.QtWidgets import QCheckBox, QColorDialog, QLabel, QSlider, QSpinBox, QToolBar, QToolButton

from editor.icons import tool_icon
from editor.tools import TOOL_CLASSES, ColorStrokeTool, EraserTool

MAX_BRUSH = 1000  # photo pixels


class ToolBar(QToolBar):
    def __init__(self, window):
        super().__init__("Tools", window)
        self.setObjectName("tools")
        self.window_ = window
        self.ctl, self.canvas = window.ctl, window.canvas
        self.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.tools = {cls.name: cls(self.ctl) for cls in TOOL_CLASSES}
        self.tool_actions: dict[str, QAction] = {}
        group = QActionGroup(self)
        for name, tool in self.tools.items():
            a = QAction(tool_icon(name), tool.short, self)
            a.setCheckable(True)
            a.setShortcut(QKeySequence(tool.shortcut))
            a.setToolTip(f"{tool.title} ({tool.shortcut}): {tool.tip}")
            a.setStatusTip(tool.tip)
            a.triggered.connect(lambda _c=False, n=name: self.select_tool(n))
            group.addAction(a)
            self.addAction(a)
            self.tool_actions[name] = a
        self.addSeparator()

        self.addWidget(QLabel(" Size "))
        self.size = QSpinBox()
        self.size.setRange(1, MAX_BRUSH)
        self.size.setSuffix(" px")
        self.size.setValue(self.ctl.brush_size)
        self.size.setToolTip("Brush diameter in photo pixels ([ smaller, ] bigger)")
        self.size.valueChanged.connect(self._size_changed)
        self.addWidget(self.size)
        for key, step in (("[", -1), ("]", 1)):
            a = QAction(self)
            a.setShortcut(QKeySequence(key))
            a.triggered.connect(lambda _c=False, s=step: self.step_size(s))
            window.addAction(a)

        self.restore = QCheckBox("Eraser restores parsed")
        self.restore.setToolTip("Eraser puts back the parser's labels instead of painting background")
        self.restore.toggled.connect(self._restore_toggled)
        self.addWidget(self.restore)

        self.colour = QToolButton()
        self.colour.setToolTip("Colour of the colour-stroke tool")
        self.colour.clicked.connect(self.ask_colour)
        self.addWidget(self.colour)
        self._show_colour()
        self.addSeparator()

        self.addWidget(QLabel(" Region tint "))
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setFixedWidth(110)
        self.opacity.setValue(round(self.canvas.overlay_opacity * 100))
        self.opacity.setToolTip("Opacity of the region colours over the photo")
        self.opacity.valueChanged.connect(lambda v: self.canvas.set_overlay_opacity(v / 100))
        self.addWidget(self.opacity)
        self.select_tool("brush")

    def select_tool(self, name: str) -> None:
        self.tool_actions[name].setChecked(True)
        self.canvas.set_tool(self.tools[name])
        self.window_.status.message(f"{self.tools[name].title}: {self.tools[name].tip}")

    @property
    def current_tool(self):
        return self.canvas.tool

    def step_size(self, step: int) -> None:
        v = self.size.value()
        delta = max(1, round(v * 0.15)) * step
        self.size.setValue(min(max(v + delta, 1), MAX_BRUSH))

    def _size_changed(self, v: int) -> None:
        self.ctl.brush_size = int(v)
        self.canvas.update()

    def _restore_toggled(self, on: bool) -> None:
        eraser = self.tools[EraserTool.name]
        eraser.restore = on

    def ask_colour(self) -> None:
        tool = self.tools[ColorStrokeTool.name]
        c = QColorDialog.getColor(tool.color, self, "Colour for colour strokes")
        if c.isValid():
            self.set_colour(c)

    def set_colour(self, c: QColor) -> None:
        self.tools[ColorStrokeTool.name].color = QColor(c)
        self._show_colour()
        self.select_tool(ColorStrokeTool.name)

    def _show_colour(self) -> None:
        pm = QPixmap(20, 20)
        pm.fill(self.tools[ColorStrokeTool.name].color)
        self.colour.setIcon(QIcon(pm))
