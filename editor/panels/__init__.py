"""Dock panels: region legend, reference gallery, style panel."""

from editor.panels.gallery import ReferenceGallery
from editor.panels.legend import RegionLegend
from editor.panels.style import StylePanel

__all__ = ["ReferenceGallery", "RegionLegend", "StylePanel"]
