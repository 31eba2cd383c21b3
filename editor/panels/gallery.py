"""Reference gallery: bundled sample faces plus the user's own photos and folders (kept in settings).

Drag a thumbnail onto a region on the canvas or onto a legend row to transfer that region's style;
hold Shift while dropping onto the face for face swap+. Right-click for more (chosen regions, face
swap+, remove). Thumbnails load a few at a time so the UI never stalls on a big folder.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QDrag, QIcon, QImageReader, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from editor import qimage
from editor.dnd import reference_mime
from engine.bundle import resources_dir
from engine.labels import DISPLAY_NAMES, NUM_CLASSES

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")
THUMB = 88
MAX_PER_FOLDER = 400
PATH_ROLE = Qt.ItemDataRole.UserRole
ORIGIN_ROLE = Qt.ItemDataRole.UserRole + 1  # "" for bundled samples, else the settings entry


def sample_paths() -> list[Path]:
    folder = resources_dir() / "samples"
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def folder_images(folder: Path) -> list[Path]:
    try:
        files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    except OSError:
        return []
    return files[:MAX_PER_FOLDER]


def display_name(path: Path) -> str:
    """'face_03_glasses.png' -> 'face 03 glasses' (wraps in the grid instead of being cut)."""
    return path.stem.replace("_", " ").replace("-", " ").strip() or path.name


class _ThumbList(QListWidget):
    """Icon grid whose drags carry our reference mime type."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setViewMode(QListWidget.ViewMode.IconMode)
        self.setIconSize(QSize(THUMB, THUMB))
        self.setGridSize(QSize(THUMB + 16, THUMB + 40))  # two lines of caption
        self.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.setMovement(QListWidget.Movement.Static)
        self.setWordWrap(True)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setDragEnabled(True)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)

    def startDrag(self, actions) -> None:
        it = self.currentItem()
        if it is None:
            return
        drag = QDrag(self)
        drag.setMimeData(reference_mime(it.data(PATH_ROLE)))
        drag.setPixmap(it.icon().pixmap(THUMB // 2, THUMB // 2))
        drag.exec(Qt.DropAction.CopyAction)


class RegionChooser(QDialog):
    """Tick the regions to take from a reference."""

    def __init__(self, name: str, preselect: int, parent=None):
        super().__init__(parent)
        self.setWindowTitle(f"Transfer regions from {name}")
        lay = QVBoxLayout(self)
        lay.addWidget(QLabel("Take the style of these regions from the reference:"))
        grid = QGridLayout()
        self.boxes = []
        for r in range(NUM_CLASSES):
            b = QCheckBox(DISPLAY_NAMES[r])
            b.setChecked(r == preselect)
            grid.addWidget(b, r % 10, r // 10)
            self.boxes.append(b)
        lay.addLayout(grid)
        bb = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        bb.accepted.connect(self.accept)
        bb.rejected.connect(self.reject)
        lay.addWidget(bb)

    def regions(self) -> list[int]:
        return [r for r, b in enumerate(self.boxes) if b.isChecked()]


class ReferenceGallery(QWidget):
    entriesChanged = Signal()

    def __init__(self, ctl, settings, parent=None):
        super().__init__(parent)
        self.ctl = ctl
        self.settings = settings
        self.list = _ThumbList(self)
        self.list.setToolTip(
            "Drag a face onto a region (canvas or legend) to take that region's style.\n"
            "Shift+drop onto the face: face swap+. Double-click: the selected region. Right-click: more."
        )
        self.list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.list.customContextMenuRequested.connect(self._menu)
        self.list.itemDoubleClicked.connect(self._double_clicked)
        add_files = QPushButton("Add photos…")
        add_folder = QPushButton("Add folder…")
        add_files.clicked.connect(self.ask_files)
        add_folder.clicked.connect(self.ask_folder)
        row = QHBoxLayout()
        row.addWidget(add_files)
        row.addWidget(add_folder)
        self.hint = QLabel()
        self.hint.setWordWrap(True)
        self.hint.setStyleSheet("color: #b8b8c0;")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.hint)
        lay.addWidget(self.list)
        lay.addLayout(row)
        self._queue: list[QListWidgetItem] = []
        self._timer = QTimer(self)
        self._timer.setInterval(0)
        self._timer.timeout.connect(self._load_some)
        ctl.referenceReady.connect(self._reference_ready)
        self.reload()

    # --- entries ----------------------------------------------------------------------------------
    def paths(self) -> list[str]:
        return [self.list.item(i).data(PATH_ROLE) for i in range(self.list.count())]

    def item_for(self, path: str) -> QListWidgetItem | None:
        for i in range(self.list.count()):
            if self.list.item(i).data(PATH_ROLE) == str(path):
                return self.list.item(i)
        return None

    def reload(self) -> None:
        self.list.clear()
        self._queue.clear()
        for p in sample_paths():
            self._add_item(p, "")
        for entry in self.settings.gallery_entries():
            e = Path(entry)
            for p in folder_images(e) if e.is_dir() else ([e] if e.is_file() else []):
                self._add_item(p, entry)
        self._timer.start()
        self.hint.setText(
            "Drag a face onto a region (on the photo or in the Regions list) to copy that region's style. "
            "Shift+drop on the face: swap the whole face."
            if self.list.count()
            else "No reference faces yet. Add your own photos or a folder of them with the buttons below."
        )
        self.entriesChanged.emit()

    def _add_item(self, path: Path, origin: str) -> None:
        if self.item_for(str(path)) is not None:
            return
        placeholder = QPixmap(THUMB, THUMB)
        placeholder.fill(QColor(70, 70, 74))
        it = QListWidgetItem(QIcon(placeholder), display_name(path))
        it.setData(PATH_ROLE, str(path))
        it.setData(ORIGIN_ROLE, origin)
        it.setToolTip(str(path) + ("" if origin else "\n(bundled sample)"))
        self.list.addItem(it)
        self._queue.append(it)

    def add_entries(self, entries: list[str]) -> None:
        current = self.settings.gallery_entries()
        new = [str(Path(e).resolve()) for e in entries if str(Path(e).resolve()) not in current]
        if new:
            self.settings.set_gallery_entries(current + new)
            self.reload()

    def remove_entry(self, origin: str) -> None:
        self.settings.set_gallery_entries([e for e in self.settings.gallery_entries() if e != origin])
        self.reload()

    def ask_files(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(
            self,
            "Add reference photos",
            self.settings.last_folder(),
            "Images (*.png *.jpg *.jpeg *.webp *.bmp *.tif *.tiff)",
        )
        if files:
            self.add_entries(files)

    def ask_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(
            self, "Add a folder of reference photos", self.settings.last_folder()
        )
        if folder:
            self.add_entries([folder])

    # --- thumbnails -------------------------------------------------------------------------------
    def _load_some(self) -> None:
        for _ in range(4):
            if not self._queue:
                self._timer.stop()
                return
            it = self._queue.pop(0)
            try:
                reader = QImageReader(it.data(PATH_ROLE))
            except RuntimeError:  # the item was deleted by a reload
                continue
            reader.setAutoTransform(True)
            size = reader.size()
            if size.isValid() and size.width() > 0:
                size.scale(THUMB, THUMB, Qt.AspectRatioMode.KeepAspectRatio)
                reader.setScaledSize(size)
            img = reader.read()
            if not img.isNull():
                it.setIcon(QIcon(QPixmap.fromImage(img)))
            else:
                it.setToolTip(f"{it.data(PATH_ROLE)}\nCannot be read: {reader.errorString()}")

    def _reference_ready(self, info) -> None:
        it = self.item_for(info.path)
        if it is not None:  # show the aligned face crop the engine will use
            img = qimage.rgb_to_qimage(info.crop).scaled(THUMB, THUMB, Qt.AspectRatioMode.KeepAspectRatio)
            it.setIcon(QIcon(QPixmap.fromImage(img)))

    # --- actions ----------------------------------------------------------------------------------
    def _double_clicked(self, it: QListWidgetItem) -> None:
        path = it.data(PATH_ROLE)
        if self.ctl.pending_free is not None:
            self.ctl.free_region(path)
        else:
            self.ctl.transfer(path, [self.ctl.current_label])

    def _menu(self, pos) -> None:
        it = self.list.itemAt(pos)
        if it is None:
            return
        path, origin = it.data(PATH_ROLE), it.data(ORIGIN_ROLE)
        region = self.ctl.current_label
        m = QMenu(self)
        m.addAction(f"Transfer {DISPLAY_NAMES[region]} style", lambda: self.ctl.transfer(path, [region]))
        m.addAction("Transfer chosen regions…", lambda: self.choose_regions(path))
        m.addAction("Face swap+ (all face regions and hair)", lambda: self.ctl.face_swap(path))
        if self.ctl.pending_free is not None:
            m.addAction("Stylise the outlined region", lambda: self.ctl.free_region(path))
        if origin:
            m.addSeparator()
            label = "Remove folder from gallery" if Path(origin).is_dir() else "Remove from gallery"
            m.addAction(label, lambda: self.remove_entry(origin))
        m.popup(self.list.viewport().mapToGlobal(pos))

    def choose_regions(self, path: str) -> None:
        dlg = RegionChooser(Path(path).stem, self.ctl.current_label, self)
        if dlg.exec() == QDialog.DialogCode.Accepted and dlg.regions():
            self.ctl.transfer(path, dlg.regions())
