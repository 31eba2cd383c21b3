"""Export dialog: file name and format (from the suffix), plus the optional mask and session files."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
)

FORMATS = "PNG (*.png);;JPEG (*.jpg *.jpeg);;WebP (*.webp)"
SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")


class ExportDialog(QDialog):
    def __init__(self, suggested: Path, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Export image")
        self.edit = QLineEdit(str(suggested))
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        self.mask = QCheckBox("Also save the mask (8-bit PNG of region ids at the photo's size, …_mask.png)")
        self.session = QCheckBox("Also save the session (re-open later to keep editing, ….json)")
        row = QHBoxLayout()
        row.addWidget(self.edit, 1)
        row.addWidget(browse)
        self.note = QLabel("The image is written at the photo's full size. Format follows the suffix.")
        self.note.setWordWrap(True)
        bb = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        bb.accepted.connect(self._accept)
        bb.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addLayout(row)
        lay.addWidget(self.note)
        lay.addWidget(self.mask)
        lay.addWidget(self.session)
        lay.addWidget(bb)

    def _browse(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export image", self.edit.text(), FORMATS)
        if path:
            self.edit.setText(path)

    def _accept(self) -> None:
        if self.path().suffix.lower() not in SUFFIXES:
            self.note.setText("Use a .png, .jpg or .webp file name.")
            return
        self.accept()

    def path(self) -> Path:
        return Path(self.edit.text().strip()).expanduser()

    def mask_path(self) -> Path | None:
        p = self.path()
        return p.with_name(p.stem + "_mask.png") if self.mask.isChecked() else None

    def session_path(self) -> Path | None:
        p = self.path()
        return p.with_suffix(".json") if self.session.isChecked() else None
