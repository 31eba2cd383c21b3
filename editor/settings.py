"""Persistent editor settings (QSettings, organisation "FacePaint", application "FacePaint").

Tests and scripts pass an explicit INI path (or set FACEPAINT_SETTINGS) so that they never touch the
user's real settings.
"""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings

ORGANISATION = "FacePaint"
APPLICATION = "FacePaint"
MAX_RECENT = 10


class Settings:
    """Typed accessors over QSettings for the few things the editor remembers between runs."""

    def __init__(self, path: str | os.PathLike | None = None):
        path = path or os.environ.get("FACEPAINT_SETTINGS")
        self.path = str(path) if path else None  # an explicit INI file (the autosave folder goes next to it)
        if path:
            self.q = QSettings(str(path), QSettings.Format.IniFormat)
        else:
            self.q = QSettings(ORGANISATION, APPLICATION)

    # --- generic helpers -----------------------------------------------------------------------
    def _list(self, key: str) -> list[str]:
        v = self.q.value(key, [])
        if v is None:
            return []
        if isinstance(v, str):
            return [v] if v else []
        return [str(x) for x in v]

    def _int(self, key: str, default: int, lo: int, hi: int) -> int:
        try:
            v = int(self.q.value(key, default))
        except (TypeError, ValueError):
            return default
        return min(max(v, lo), hi)

    def sync(self) -> None:
        self.q.sync()

    # --- values ---------------------------------------------------------------------------------
    @property
    def brush_size(self) -> int:
        """Brush diameter in photo pixels (the older setting, in mask pixels, is not carried over)."""
        return self._int("tools/brush_px", 24, 1, 1000)

    @brush_size.setter
    def brush_size(self, v: int) -> None:
        self.q.setValue("tools/brush_px", int(v))

    @property
    def overlay_opacity(self) -> int:
        return self._int("view/overlay_opacity", 45, 0, 100)

    @overlay_opacity.setter
    def overlay_opacity(self, v: int) -> None:
        self.q.setValue("view/overlay_opacity", int(v))

    @property
    def launched_before(self) -> bool:
        return str(self.q.value("app/launched_before", "false")).lower() == "true"

    def mark_launched(self) -> None:
        self.q.setValue("app/launched_before", "true")

    def recent_files(self) -> list[str]:
        return self._list("files/recent")

    def add_recent(self, path: str | os.PathLike) -> list[str]:
        p = str(Path(path).resolve())
        items = [p] + [x for x in self.recent_files() if x != p]
        items = items[:MAX_RECENT]
        self.q.setValue("files/recent", items)
        return items

    def clear_recent(self) -> None:
        self.q.setValue("files/recent", [])

    def gallery_entries(self) -> list[str]:
        """The user's own reference files and folders, in the order they were added."""
        return self._list("gallery/entries")

    def set_gallery_entries(self, entries: list[str]) -> None:
        self.q.setValue("gallery/entries", list(entries))

    def last_folder(self) -> str:
        return str(self.q.value("files/last_folder", "") or "")

    def set_last_folder(self, folder: str | os.PathLike) -> None:
        self.q.setValue("files/last_folder", str(folder))

    def window_geometry(self) -> QByteArray | None:
        v = self.q.value("window/geometry")
        return v if isinstance(v, QByteArray) else None

    def window_state(self) -> QByteArray | None:
        v = self.q.value("window/state")
        return v if isinstance(v, QByteArray) else None

    def save_window(self, geometry: QByteArray, state: QByteArray) -> None:
        self.q.setValue("window/geometry", geometry)
        self.q.setValue("window/state", state)
