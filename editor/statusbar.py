"""Status bar: messages and progress on the left; regenerate time and the device on the right."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QProgressBar, QStatusBar


class StatusBar(QStatusBar):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.text = QLabel()
        self.text.setMinimumWidth(200)
        self.addWidget(self.text, 1)
        self.progress = QProgressBar()
        self.progress.setRange(0, 0)  # busy indicator
        self.progress.setMaximumWidth(120)
        self.progress.setMaximumHeight(14)
        self.progress.setTextVisible(False)
        self.progress.hide()
        self.addPermanentWidget(self.progress)
        self.regen = QLabel("")
        self.regen.setToolTip("How long the model took for the last regenerate")
        self.addPermanentWidget(self.regen)
        self.device = QLabel("Loading the model…")
        self.device.setToolTip("Where the model runs")
        self.addPermanentWidget(self.device)
        self.last_message = ""
        self.last_was_error = False

    def message(self, text: str, error: bool = False) -> None:
        self.last_message, self.last_was_error = text, error
        self.text.setText(text)
        self.text.setStyleSheet("color: #ff8080;" if error else "")

    def set_busy(self, busy: bool) -> None:
        self.progress.setVisible(busy)

    def set_busy_text(self, opening: bool) -> None:
        self.progress.setVisible(opening or self.progress.isVisible())

    def set_regen_ms(self, ms: float) -> None:
        self.regen.setText(f"Regenerated in {ms:.0f} ms" if ms >= 1 else "Result up to date")

    def set_device(self, label: str) -> None:
        self.device.setText(f"Model on {label}" if label else "Model ready")
