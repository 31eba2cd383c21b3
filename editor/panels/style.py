"""Style panel for the selected region: harmoniser and alpha, z-space fine-tune, random style,
interpolation to the last reference, recolour and reset.

Sliders regenerate live while dragged (a preview, no undo step) and push one undo command on release.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QColorDialog,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from editor.panels.legend import swatch
from engine.labels import DISPLAY_NAMES
from engine.session import Override

HARMONIZERS = (("MRSA (style attention)", "mrsa"), ("MSCA (spatial alignment)", "msca"), ("Off", "off"))
TUNE_RANGE = 30  # slider units; eta = value / 10


def _slider(lo: int, hi: int, tip: str) -> QSlider:
    s = QSlider(Qt.Orientation.Horizontal)
    s.setRange(lo, hi)
    s.setToolTip(tip)
    return s


#: Composite modes offered in the style panel (text, EditState.composite).
COMPOSITES = (
    ("Keep photo detail", "moved"),
    ("Photo detail, painted reshapes", "changed"),
    ("Generated pixels", "raw"),
    ("Whole face", "whole"),
)


def describe_override(ov: Override | None, ref_names: dict[str, str] | None = None) -> str:
    """A short human description of a region's style."""
    if ov is None:
        return "Own style (from the photo)"
    names = ref_names or {}
    tune = f", fine-tuned {ov.tune_eta:+.1f}" if ov.tuned else ""
    if ov.kind == "reference":
        return f"From reference {names.get(ov.ref, ov.ref[:8])}{tune}"
    if ov.kind == "interp":
        return f"{ov.t:.0%} towards {names.get(ov.ref, ov.ref[:8])}{tune}"
    if ov.kind == "color":
        r, g, b = ov.rgb
        return f"Colour #{r:02x}{g:02x}{b:02x}{tune}"
    if ov.kind == "random":
        return f"Random style, seed {ov.seed}{tune}"
    return f"Own style{tune}"


class StylePanel(QWidget):
    def __init__(self, ctl, parent=None):
        super().__init__(parent)
        self.ctl = ctl
        self._updating = False
        self._tune_seed = ctl.new_seed()

        self.title = QLabel()
        self.title.setStyleSheet("font-weight: bold; font-size: 13px;")
        self.describe = QLabel()
        self.describe.setWordWrap(True)

        # harmoniser (whole image settings)
        self.harmonizer = QComboBox()
        for text, key in HARMONIZERS:
            self.harmonizer.addItem(text, key)
        self.alpha = _slider(0, 200, "Harmoniser strength α (100 % = as trained)")
        self.alpha_label = QLabel()
        self.whole = QComboBox()
        for text, key in COMPOSITES:
            self.whole.addItem(text, key)
        self.whole.setToolTip(
            "Keep photo detail: edited regions move in colour and shading, texture stays the photo's.\n"
            "Generated pixels: edited regions take the model's pixels.\n"
            "Whole face: the whole crop is regenerated."
        )
        harm = QGroupBox("Harmoniser (whole face)")
        hf = QFormLayout(harm)
        hf.addRow("Mode", self.harmonizer)
        hf.addRow("Strength α", self._with_label(self.alpha, self.alpha_label))
        hf.addRow("Result", self.whole)

        # per-region style
        self.tune = _slider(-TUNE_RANGE, TUNE_RANGE, "Move the region's style along a direction in z-space")
        self.tune_label = QLabel()
        self.reroll = QPushButton("New direction")
        self.reroll.setToolTip("Pick another random direction for the fine-tune slider")
        self.seed = QSpinBox()
        self.seed.setRange(0, 999_999)
        self.seed.setToolTip("Seed of the random style; the same seed gives the same style")
        self.randomise = QPushButton("Randomise")
        self.randomise.setToolTip(
            "A new random style (RSM) for this region and the regions drawn with it, e.g. skin and nose"
        )
        self.apply_seed = QPushButton("Use seed")
        self.interp = _slider(0, 100, "Blend this region's own style towards the last reference")
        self.interp_label = QLabel()
        self.recolour = QPushButton("Recolour…")
        self.reset = QPushButton("Reset region")
        self.reset.setToolTip("Back to the photo's own style for this region")

        region = QGroupBox("Selected region")
        rf = QVBoxLayout(region)
        head = QHBoxLayout()
        self.icon = QLabel()
        head.addWidget(self.icon)
        head.addWidget(self.title, 1)
        rf.addLayout(head)
        rf.addWidget(self.describe)
        form = QFormLayout()
        trow = QHBoxLayout()
        trow.addWidget(self.tune, 1)
        trow.addWidget(self.tune_label)
        trow.addWidget(self.reroll)
        form.addRow("Fine-tune", trow)
        srow = QHBoxLayout()
        srow.addWidget(self.seed, 1)
        srow.addWidget(self.apply_seed)
        srow.addWidget(self.randomise)
        form.addRow("Random", srow)
        irow = QHBoxLayout()
        irow.addWidget(self.interp, 1)
        irow.addWidget(self.interp_label)
        form.addRow("Blend", irow)
        rf.addLayout(form)
        brow = QHBoxLayout()
        brow.addWidget(self.recolour)
        brow.addWidget(self.reset)
        rf.addLayout(brow)

        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(region)
        lay.addWidget(harm)
        lay.addStretch(1)

        self.harmonizer.currentIndexChanged.connect(self._harmonizer_changed)
        self._live(self.alpha, self._alpha_preview, self._alpha_commit)
        self._live(self.tune, self._tune_preview, self._tune_commit)
        self._live(self.interp, self._interp_preview, self._interp_commit)
        self.whole.currentIndexChanged.connect(self._whole_toggled)
        self.reroll.clicked.connect(self.new_direction)
        self.randomise.clicked.connect(self.random_style)
        self.apply_seed.clicked.connect(lambda: self._commit_random(self.seed.value()))
        self.recolour.clicked.connect(self._ask_colour)
        self.reset.clicked.connect(lambda: self.ctl.reset_region(self.region))
        ctl.selectionChanged.connect(lambda _r: self.refresh())
        ctl.stateChanged.connect(lambda _k: self.refresh())
        ctl.documentOpened.connect(self.refresh)
        ctl.referenceReady.connect(lambda _i: self.refresh())
        self.refresh()

    @staticmethod
    def _with_label(slider, label) -> QWidget:
        w = QWidget()
        h = QHBoxLayout(w)
        h.setContentsMargins(0, 0, 0, 0)
        h.addWidget(slider, 1)
        h.addWidget(label)
        return w

    def _live(self, slider: QSlider, preview, commit) -> None:
        """Dragging previews; releasing (or a keyboard step) commits one undo command."""

        def changed(v):
            self._labels()
            if self._updating:
                return
            (preview if slider.isSliderDown() else commit)(v)

        slider.valueChanged.connect(changed)
        slider.sliderReleased.connect(lambda: None if self._updating else commit(slider.value()))

    @property
    def region(self) -> int:
        return self.ctl.current_label

    def _override(self) -> Override | None:
        doc = self.ctl.doc
        return doc.state.override(self.region) if doc is not None else None

    # --- refresh from the document ----------------------------------------------------------------
    def refresh(self) -> None:
        self._updating = True
        try:
            r, doc = self.region, self.ctl.doc
            self.icon.setPixmap(swatch(r, 18).pixmap(18, 18))
            self.title.setText(DISPLAY_NAMES[r])
            ov = self._override()
            self.describe.setText(
                describe_override(ov, self.ctl.ref_names()) if doc else "Open a photo first."
            )
            if ov is not None and ov.tune_seed is not None:
                self._tune_seed = ov.tune_seed
            self.tune.setValue(round((ov.tune_eta if ov else 0.0) * 10))
            self.interp.setValue(round(ov.t * 100) if ov is not None and ov.kind == "interp" else 0)
            if ov is not None and ov.kind == "random":
                self.seed.setValue(ov.seed % 1_000_000)
            last = self.ctl.last_ref
            own_interp = ov is not None and ov.kind == "interp"
            has_ref = own_interp or (last is not None and bool(last.present[r]))
            self.interp.setEnabled(doc is not None and has_ref)
            if has_ref:
                tip = "Blend this region's own style towards the last reference you used"
            elif last is not None:
                tip = f"The last reference has no {DISPLAY_NAMES[r].lower()} region to blend towards"
            else:
                tip = "Transfer a style from the gallery first; this slider then blends towards it"
            self.interp.setToolTip(tip)
            if doc is None:
                self.alpha.setValue(100)
            else:
                st = doc.state
                self.harmonizer.setCurrentIndex([k for _, k in HARMONIZERS].index(st.harmonizer))
                self.alpha.setValue(round(st.alpha * 100))
                self.whole.setCurrentIndex([k for _, k in COMPOSITES].index(st.composite))
            for w in (
                self.tune,
                self.reroll,
                self.seed,
                self.randomise,
                self.apply_seed,
                self.recolour,
                self.reset,
            ):
                w.setEnabled(doc is not None)
            for w in (self.harmonizer, self.alpha, self.whole):
                w.setEnabled(doc is not None)
            self.reset.setEnabled(doc is not None and ov is not None)
            self._labels()
        finally:
            self._updating = False

    def _labels(self) -> None:
        self.alpha_label.setText(f"{self.alpha.value()} %")
        self.tune_label.setText(f"{self.tune.value() / 10:+.1f}")
        ref = self.ctl.last_ref
        ov = self._override()
        if ov is not None and ov.kind == "interp":
            name = self.ctl.ref_names().get(ov.ref, "reference")
        else:
            name = self.ctl.ref_names().get(ref.id, "reference") if ref else None
        self.interp_label.setText(f"{self.interp.value()} % → {name}" if name else "no reference yet")

    # --- harmoniser -------------------------------------------------------------------------------
    def _harmonizer_changed(self, _i) -> None:
        if not self._updating:
            mode = self.harmonizer.currentData()
            self.ctl.set_settings(f"Harmoniser {mode.upper()}", harmonizer=mode)

    def _alpha_preview(self, v) -> None:
        self.ctl.preview_settings(alpha=v / 100)

    def _alpha_commit(self, v) -> None:
        self.ctl.set_settings(f"Harmoniser α {v} %", alpha=v / 100)

    def _whole_toggled(self, _i) -> None:
        if not self._updating:
            mode = self.whole.currentData()
            self.ctl.set_settings(f"Result: {self.whole.currentText()}", composite=mode)

    # --- per-region style -------------------------------------------------------------------------
    def _tune_preview(self, v) -> None:
        self.ctl.tune(self.region, self._tune_seed, v / 10, preview=True)

    def _tune_commit(self, v) -> None:
        self.ctl.tune(self.region, self._tune_seed, v / 10)

    def new_direction(self) -> None:
        self._tune_seed = self.ctl.new_seed()
        if self.tune.value() == 0:
            self._updating = True
            self.tune.setValue(10)
            self._updating = False
        self._tune_commit(self.tune.value())

    def _interp_preview(self, v) -> None:
        self.ctl.blend(self.region, v / 100, preview=True)

    def _interp_commit(self, v) -> None:
        self.ctl.blend(self.region, v / 100)

    def random_style(self) -> None:
        seed = self.ctl.new_seed()
        self._updating = True
        self.seed.setValue(seed)
        self._updating = False
        self._commit_random(seed)

    def _commit_random(self, seed: int) -> None:
        self.ctl.random_style(self.region, seed)

    def _ask_colour(self) -> None:
        ov = self._override()
        start = QColor(*ov.rgb) if ov is not None and ov.kind == "color" else QColor(150, 90, 60)
        c = QColorDialog.getColor(start, self, f"Colour for {DISPLAY_NAMES[self.region]}")
        if c.isValid():
            self.ctl.set_color(self.region, (c.red(), c.green(), c.blue()))
