"""Region legend: the 19 classes with swatches, names, key shortcuts, visibility and style tags.

Clicking an entry selects the label to paint and the region whose style the style panel edits.
Hovering highlights the region on the canvas. A gallery thumbnail dropped onto an entry transfers that
region's style (Shift: face swap+).
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTreeWidget, QTreeWidgetItem

from editor.dnd import REF_MIME, reference_path
from engine.labels import COLORS, DISPLAY_NAMES, NUM_CLASSES, describe_region

#: Keyboard shortcut per class: 0-9 for the first ten, Alt+0..Alt+8 for the rest.
SHORTCUTS: tuple[str, ...] = tuple(str(i) for i in range(10)) + tuple(f"Alt+{i}" for i in range(9))

STYLE_TAGS = {
    "reference": "reference",
    "interp": "blend",
    "color": "colour",
    "random": "random",
    "own": "tuned",
}


def swatch(region: int, size: int = 16) -> QIcon:
    pm = QPixmap(size, size)
    pm.fill(Qt.GlobalColor.transparent)
    p = QPainter(pm)
    c = COLORS[region]
    p.setBrush(QColor(int(c[0]), int(c[1]), int(c[2])))
    p.setPen(QColor(200, 200, 200))
    p.drawRect(1, 1, size - 3, size - 3)
    p.end()
    return QIcon(pm)


class RegionLegend(QTreeWidget):
    regionHovered = Signal(object)  # int | None
    visibilityChanged = Signal(int, bool)

    def __init__(self, ctl, parent=None):
        super().__init__(parent)
        self.ctl = ctl
        self.setColumnCount(3)
        self.setHeaderLabels(["Region", "Key", "Style"])
        self.headerItem().setToolTip(0, "Tick: tint this region on the canvas")
        self.setMinimumWidth(285)
        self.setRootIsDecorated(False)
        self.setUniformRowHeights(True)
        self.setIconSize(QSize(16, 16))
        self.setMouseTracking(True)
        self.setAcceptDrops(True)
        self.setDropIndicatorShown(False)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setToolTip(
            "Click a region to paint with its label and edit its style.\n"
            "Untick to hide its tint on the canvas. Drop a gallery photo on a row to transfer that region."
        )
        h = self.header()
        h.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        h.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        h.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        self._updating = True
        for r in range(NUM_CLASSES):
            it = QTreeWidgetItem([DISPLAY_NAMES[r], SHORTCUTS[r], ""])
            it.setIcon(0, swatch(r))
            it.setToolTip(0, describe_region(r))
            it.setFlags(it.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            it.setCheckState(0, Qt.CheckState.Checked if r != 0 else Qt.CheckState.Unchecked)
            it.setData(0, Qt.ItemDataRole.UserRole, r)
            it.setForeground(1, QBrush(QColor(140, 140, 140)))
            self.addTopLevelItem(it)
        self._updating = False
        self.itemChanged.connect(self._item_changed)
        self.currentItemChanged.connect(self._current_changed)
        self.itemEntered.connect(lambda it, _c: self.regionHovered.emit(self.region_of(it)))
        ctl.selectionChanged.connect(self.select)
        ctl.stateChanged.connect(lambda _k: self.refresh_styles())
        ctl.documentOpened.connect(self.refresh_styles)
        self.select(ctl.current_label)

    # --- model ------------------------------------------------------------------------------------
    def item(self, region: int) -> QTreeWidgetItem:
        return self.topLevelItem(region)

    @staticmethod
    def region_of(item: QTreeWidgetItem | None) -> int | None:
        return None if item is None else int(item.data(0, Qt.ItemDataRole.UserRole))

    def is_visible(self, region: int) -> bool:
        return self.item(region).checkState(0) == Qt.CheckState.Checked

    def select(self, region: int) -> None:
        it = self.item(region)
        if self.currentItem() is not it:
            self.setCurrentItem(it)

    def refresh_styles(self) -> None:
        doc = self.ctl.doc
        self._updating = True
        for r in range(NUM_CLASSES):
            ov = doc.state.override(r) if doc is not None else None
            tag = "" if ov is None else STYLE_TAGS.get(ov.kind, ov.kind)
            if ov is not None and ov.tuned and ov.kind != "own":
                tag += " +tune"
            self.item(r).setText(2, tag)
        self._updating = False

    def _item_changed(self, it: QTreeWidgetItem, column: int) -> None:
        if not self._updating and column == 0:
            self.visibilityChanged.emit(self.region_of(it), it.checkState(0) == Qt.CheckState.Checked)

    def _current_changed(self, cur, _prev) -> None:
        r = self.region_of(cur)
        if r is not None:
            self.ctl.select_region(r)

    def leaveEvent(self, e) -> None:
        self.regionHovered.emit(None)
        super().leaveEvent(e)

    # --- drops ------------------------------------------------------------------------------------
    def _drop_region(self, e) -> int | None:
        return self.region_of(self.itemAt(e.position().toPoint()))

    def dragEnterEvent(self, e) -> None:
        if e.mimeData().hasFormat(REF_MIME):
            e.acceptProposedAction()
        else:
            e.ignore()

    def dragMoveEvent(self, e) -> None:
        if not e.mimeData().hasFormat(REF_MIME):
            e.ignore()
            return
        r = self._drop_region(e)
        self.regionHovered.emit(r)
        if r is None:
            e.ignore()
        else:
            e.acceptProposedAction()

    def dragLeaveEvent(self, e) -> None:
        self.regionHovered.emit(None)

    def dropEvent(self, e) -> None:
        path = reference_path(e.mimeData())
        r = self._drop_region(e)
        self.regionHovered.emit(None)
        if path is None or r is None:
            e.ignore()
            return
        if e.modifiers() & Qt.KeyboardModifier.ShiftModifier:
            self.ctl.face_swap(path)
        else:
            self.ctl.transfer(path, [r])
        e.acceptProposedAction()
