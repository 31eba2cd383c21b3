"""Canvas tools: press/move/release in image coordinates -> edits through the controller."""

from editor.tools.base import Tool
from editor.tools.brush import BrushTool, ColorStrokeTool, EraserTool
from editor.tools.shapes import FillTool, FreeRegionTool, LassoTool, PickTool, RectTool

TOOL_CLASSES: tuple[type[Tool], ...] = (
    BrushTool,
    EraserTool,
    FillTool,
    RectTool,
    LassoTool,
    ColorStrokeTool,
    FreeRegionTool,
    PickTool,
)

__all__ = [
    "TOOL_CLASSES",
    "BrushTool",
    "ColorStrokeTool",
    "EraserTool",
    "FillTool",
    "FreeRegionTool",
    "LassoTool",
    "PickTool",
    "RectTool",
    "Tool",
]
