"""Drag-and-drop payloads shared by the gallery, the legend and the canvas."""

from __future__ import annotations

from PySide6.QtCore import QMimeData

REF_MIME = "application/x-facepaint-reference"


def reference_mime(path: str) -> QMimeData:
    """Mime data carrying one reference photo's path (what a gallery thumbnail drags)."""
    md = QMimeData()
    md.setData(REF_MIME, str(path).encode("utf-8"))
    md.setText(str(path))
    return md


def reference_path(md: QMimeData | None) -> str | None:
    if md is None or not md.hasFormat(REF_MIME):
        return None
    try:
        return bytes(md.data(REF_MIME).data()).decode("utf-8") or None
    except UnicodeDecodeError:
        return None


def dropped_files(md: QMimeData | None) -> list[str]:
    """Local files dropped from the desktop / file manager."""
    if md is None or not md.hasUrls():
        return []
    return [u.toLocalFile() for u in md.urls() if u.isLocalFile() and u.toLocalFile()]
