"""The main window: canvas in the middle, legend / gallery / style docks, menus, toolbar, status bar."""

from __future__ import annotations

import gc
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QActionGroup, QKeySequence, QShortcut
from PySide6.QtWidgets import QDockWidget, QFileDialog, QMainWindow, QMessageBox

from editor import jobs
from editor.autosave import Autosave, autosave_root
from editor.canvas import Canvas
from editor.controller import EditorController
from editor.dnd import dropped_files
from editor.engine_client import EngineClient
from editor.export_dialog import ExportDialog
from editor.panels import ReferenceGallery, RegionLegend, StylePanel
from editor.panels.gallery import IMAGE_SUFFIXES, sample_paths
from editor.panels.legend import SHORTCUTS
from editor.restore_prompt import RestorePrompt
from editor.settings import Settings
from editor.statusbar import StatusBar
from editor.toolbar import ToolBar
from engine.maskops import replace as mask_replace

_FROZEN: list[bool] = []


def freeze_startup_objects() -> None:
    """Once per process, when the model is loaded: move everything allocated so far (modules, torch, Qt
    wrappers: a few hundred thousand objects) out of the garbage collector's sight, so that a full
    collection later in a long session scans only what the session made (pauses of ~100-300 ms on a busy
    2-core machine become a few ms)."""
    if not _FROZEN:
        _FROZEN.append(True)
        gc.collect()
        gc.freeze()


OPEN_FILTER = "Photos and sessions (*.png *.jpg *.jpeg *.webp *.bmp *.tif *.tiff *.json);;All files (*)"


class MainWindow(RestorePrompt, QMainWindow):
    """``client`` serves the engine; ``settings`` is an editor.settings.Settings; ``autosave``: keep an
    autosave of the open document (in ``editor.autosave.data_dir(settings)``)."""

    def __init__(self, client: EngineClient, settings: Settings, parent=None, *, autosave: bool = True):
        super().__init__(parent)
        self.settings = settings
        self.client = client
        self.ctl = EditorController(client, self)
        self.autosave = (
            Autosave(autosave_root(settings), on_error=self._autosave_failed) if autosave else None
        )
        self.ctl.autosave = self.autosave
        self.ctl.brush_size = settings.brush_size
        self.setObjectName("FacePaintMainWindow")
        self.setAcceptDrops(True)
        self.canvas = Canvas(self.ctl, self)
        self.canvas.set_overlay_opacity(settings.overlay_opacity / 100)
        self.setCentralWidget(self.canvas)
        self.legend = RegionLegend(self.ctl)
        self.gallery = ReferenceGallery(self.ctl, settings)
        self.style_panel = StylePanel(self.ctl)
        self.legend_dock = self._dock("Regions", "regions", self.legend, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.style_dock = self._dock(
            "Style", "style", self.style_panel, Qt.DockWidgetArea.RightDockWidgetArea
        )
        self.gallery_dock = self._dock(
            "References", "references", self.gallery, Qt.DockWidgetArea.RightDockWidgetArea
        )
        self.status = StatusBar(self)
        self.setStatusBar(self.status)
        self.toolbar = ToolBar(self)
        self.addToolBar(self.toolbar)
        self.error_box: QMessageBox | None = None
        self.ask_unsaved = self._ask_unsaved  # tests replace this to answer the question
        self.ask_restore = self._ask_restore  # likewise ("restore" | "discard" | "later")
        self._build_menus()
        self._connect()
        self.resize(1400, 900)
        geo, state = settings.window_geometry(), settings.window_state()
        if geo is not None:
            self.restoreGeometry(geo)
        if state is not None:
            self.restoreState(state)
        self._update_title()
        self.status.message("Loading the model… You can already open a photo (Ctrl+O).")

    def _dock(self, title: str, name: str, widget, area) -> QDockWidget:
        d = QDockWidget(title, self)
        d.setObjectName(name)
        d.setWidget(widget)
        self.addDockWidget(area, d)
        return d

    # --- menus ------------------------------------------------------------------------------------
    def _act(self, menu, text, slot, shortcut=None, tip="") -> QAction:
        a = QAction(text, self)
        if shortcut:
            keys = shortcut if isinstance(shortcut, list) else [shortcut]
            a.setShortcuts([QKeySequence(k) for k in keys])
        if tip:
            a.setStatusTip(tip)
        a.triggered.connect(lambda _checked=False: slot())
        menu.addAction(a)
        return a

    def _build_menus(self) -> None:
        mb = self.menuBar()
        f = mb.addMenu("&File")
        self._act(
            f, "&Open…", self.ask_open, QKeySequence.StandardKey.Open, "Open a photo or a saved session"
        )
        self.recent_menu = f.addMenu("Open &Recent")
        self.samples_menu = f.addMenu("Open &Sample")
        for p in sample_paths():
            self.samples_menu.addAction(p.stem, lambda p=p: self.open_path(p))
        self.samples_menu.setEnabled(bool(sample_paths()))
        f.addSeparator()
        self.save_act = self._act(f, "&Save Session", self.save_session, QKeySequence.StandardKey.Save)
        self._act(f, "Save Session &As…", self.save_session_as, "Ctrl+Shift+S")
        self.export_act = self._act(f, "&Export Image…", self.ask_export, "Ctrl+E", "Full-size PNG/JPEG/WebP")
        f.addSeparator()
        self._act(f, "&Quit", self.close, QKeySequence.StandardKey.Quit)

        e = mb.addMenu("&Edit")
        stack = self.ctl.undo_stack
        self.undo_act = self._act(e, "&Undo", self.undo, QKeySequence.StandardKey.Undo)
        self.redo_act = self._act(e, "&Redo", self.redo, ["Ctrl+Shift+Z", "Ctrl+Y"])
        stack.canUndoChanged.connect(self.undo_act.setEnabled)
        stack.canRedoChanged.connect(self.redo_act.setEnabled)
        stack.undoTextChanged.connect(lambda t: self.undo_act.setText(f"&Undo {t}".strip()))
        stack.redoTextChanged.connect(lambda t: self.redo_act.setText(f"&Redo {t}".strip()))
        self.undo_act.setEnabled(False)
        self.redo_act.setEnabled(False)
        e.addSeparator()
        self._act(e, "Reset Selected Region's Style", lambda: self.ctl.reset_region(self.ctl.current_label))
        self._act(e, "Restore the Parsed Mask", self.restore_parsed_mask)
        self._act(e, "Clear Free Regions", self.ctl.clear_free_regions)

        v = mb.addMenu("&View")
        group = QActionGroup(self)
        self.mode_actions = {}
        for key, text, sc in (
            ("result", "&Result Only", "Ctrl+1"),
            ("side", "&Side by Side", "Ctrl+2"),
            ("split", "Before/After S&plit", "Ctrl+3"),
        ):
            a = self._act(v, text, lambda k=key: self.set_mode(k), sc)
            a.setCheckable(True)
            group.addAction(a)
            self.mode_actions[key] = a
        self.mode_actions[self.canvas.view.mode].setChecked(True)
        v.addSeparator()
        self._act(v, "Zoom &In", self.canvas.zoom_in, ["Ctrl++", "Ctrl+="])
        self._act(v, "Zoom &Out", self.canvas.zoom_out, "Ctrl+-")
        self._act(v, "&Actual Size", self.canvas.actual_size, "Ctrl+0")
        self._act(v, "&Fit to Window", self.canvas.fit, "Ctrl+F")
        v.addSeparator()
        for d in (self.legend_dock, self.style_dock, self.gallery_dock):
            v.addAction(d.toggleViewAction())
        v.addAction(self.toolbar.toggleViewAction())

        h = mb.addMenu("&Help")
        self._act(h, "&Keyboard Shortcuts", self.show_shortcuts, "F1")

        for region, key in enumerate(SHORTCUTS):
            sc = QShortcut(QKeySequence(key), self)
            sc.activated.connect(lambda r=region: self.ctl.select_region(r))
        self._refresh_recent()

    def _connect(self) -> None:
        ctl = self.ctl
        ctl.errorRaised.connect(self.show_error)
        ctl.status.connect(self.status.message)
        ctl.documentOpened.connect(self._on_opened)
        ctl.openingChanged.connect(self.status.set_busy_text)
        ctl.regenerated.connect(self.status.set_regen_ms)
        ctl.undo_stack.cleanChanged.connect(self._clean_changed)
        ctl.saved.connect(lambda _p: self._update_title())
        self.client.busyChanged.connect(self.status.set_busy)
        self.client.engineReady.connect(self.status.set_device)
        self.client.engineReady.connect(lambda _l: freeze_startup_objects())
        self.client.engineReady.connect(
            lambda _l: (
                None
                if self.ctl.doc or self.ctl.opening
                else self.status.message("Ready. Open a photo to start.")
            )
        )
        self.client.engineFailed.connect(lambda m: self.show_error(f"The model could not be loaded: {m}"))
        self.client.deviceFallback.connect(self._device_fallback)
        self.canvas.fileDropped.connect(self.open_path)
        self.legend.regionHovered.connect(self.canvas.set_highlight)
        self.legend.visibilityChanged.connect(self.canvas.set_visible)

    # --- documents --------------------------------------------------------------------------------
    def ask_open(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Open a photo or session", self.settings.last_folder(), OPEN_FILTER
        )
        if path:
            self.open_path(path)

    def open_path(self, path) -> None:
        path = Path(path)
        if not self.maybe_keep_changes(then=lambda: self.open_path(path)):
            return
        self.settings.set_last_folder(path.parent)
        self._opening_path = path
        self.ctl.open_path(path)

    def _on_opened(self) -> None:
        self.settings.add_recent(getattr(self, "_opening_path", None) or self.ctl.doc.source)
        self._refresh_recent()
        self._update_title()
        self.canvas.setFocus()

    def _refresh_recent(self) -> None:
        m = self.recent_menu
        m.clear()
        files = [f for f in self.settings.recent_files() if Path(f).exists()]
        for f in files:
            m.addAction(Path(f).name, lambda f=f: self.open_path(f)).setStatusTip(f)
        if files:
            m.addSeparator()
            m.addAction("Clear List", lambda: (self.settings.clear_recent(), self._refresh_recent()))
        m.setEnabled(bool(files))
        ways = ["File ▸ Open (Ctrl+O)", "drop a photo onto this window"]
        if sample_paths():
            ways.append("try File ▸ Open Sample")
        if files:
            ways.append("pick one from File ▸ Open Recent")
        self.canvas.welcome_hint = ",\n".join(ways[:-1]) + ",\nor " + ways[-1] + "."
        self.canvas.update()

    def _clean_changed(self, clean: bool) -> None:
        if "[*]" in self.windowTitle():
            self.setWindowModified(not clean)

    def _update_title(self) -> None:
        doc = self.ctl.doc
        self.setWindowTitle(f"{doc.title}[*] — FacePaint" if doc else "FacePaint")
        self.setWindowModified(doc is not None and not self.ctl.undo_stack.isClean())

    def restore_parsed_mask(self) -> None:
        doc = self.ctl.doc
        if doc is not None:
            self.ctl.commit_mask(mask_replace(doc.state.mask, doc.parsed_mask), "Restore parsed mask")

    def set_mode(self, mode: str) -> None:
        self.canvas.set_mode(mode)
        self.mode_actions[mode].setChecked(True)

    def undo(self) -> None:
        self.canvas.cancel_tool()
        self.ctl.undo_stack.undo()

    def redo(self) -> None:
        self.canvas.cancel_tool()
        self.ctl.undo_stack.redo()

    # --- saving -----------------------------------------------------------------------------------
    def _default_stem(self) -> Path:
        doc = self.ctl.doc
        src = doc.source if doc and doc.source else Path(self.settings.last_folder() or ".") / "face"
        return src.with_name(src.stem + "_edited")

    def save_session(self, on_done=None) -> None:
        doc = self.ctl.doc
        if doc is None:
            return
        if doc.session_path is None:
            self.save_session_as(on_done)
        else:
            self.ctl.save_session(doc.session_path, on_done)

    def save_session_as(self, on_done=None) -> None:
        if self.ctl.doc is None:
            return
        path, _ = QFileDialog.getSaveFileName(
            self, "Save session", str(self._default_stem().with_suffix(".json")), "FacePaint session (*.json)"
        )
        if path:
            if not path.lower().endswith(".json"):
                path += ".json"
            self.ctl.save_session(path, on_done)

    def ask_export(self) -> None:
        if self.ctl.doc is None:
            self.show_error("Nothing to export: open a photo first.")
            return
        dlg = ExportDialog(self._default_stem().with_suffix(".png"), self)
        if dlg.exec():
            self.ctl.export(dlg.path(), mask_path=dlg.mask_path(), session_path=dlg.session_path())

    # --- messages ---------------------------------------------------------------------------------
    def show_error(self, message: str) -> None:
        """Status bar + a non-modal message box (one at a time, reused)."""
        self.status.message(message, error=True)
        if self.error_box is None:
            self.error_box = QMessageBox(
                QMessageBox.Icon.Warning, "FacePaint", message, QMessageBox.StandardButton.Ok, self
            )
            self.error_box.setModal(False)
            self.error_box.setWindowModality(Qt.WindowModality.NonModal)
        self.error_box.setText(message)
        self.error_box.show()

    def show_shortcuts(self) -> None:
        text = (
            "<b>Tools</b>: B brush, E eraser, G fill, R rectangle, L polygon/lasso, C colour stroke, "
            "F free region, I pick region. [ and ] change the brush size.<br>"
            "<b>Regions</b>: 0–9 select classes 0–9, Alt+0…Alt+8 classes 10–18.<br>"
            "<b>View</b>: wheel or Ctrl+± zoom, Ctrl+0 actual size, Ctrl+F fit, Space+drag or middle-drag pan, "
            "Ctrl+1/2/3 result / side by side / split.<br>"
            "<b>Edit</b>: Ctrl+Z undo, Ctrl+Shift+Z redo, Ctrl+S save session, Ctrl+E export.<br>"
            "<b>References</b>: drag a gallery face onto a region (canvas or legend); Shift+drop = face swap+."
        )
        QMessageBox.information(self, "FacePaint shortcuts", text)

    # --- unsaved changes / closing ----------------------------------------------------------------
    def _ask_unsaved(self) -> str:
        box = QMessageBox(
            QMessageBox.Icon.Question, "FacePaint", "The edits to this photo are not saved.", parent=self
        )
        box.setInformativeText("Save them as a session first?")
        box.setStandardButtons(
            QMessageBox.StandardButton.Save
            | QMessageBox.StandardButton.Discard
            | QMessageBox.StandardButton.Cancel
        )
        return {QMessageBox.StandardButton.Save: "save", QMessageBox.StandardButton.Discard: "discard"}.get(
            box.exec(), "cancel"
        )

    def maybe_keep_changes(self, then=None) -> bool:
        """True when it is fine to drop the current document now (discarded, or nothing to lose).

        "Save" saves the session in the worker and returns False; ``then()`` runs once it is saved.
        """
        if self.ctl.doc is None or self.ctl.undo_stack.isClean():
            return True
        answer = self.ask_unsaved()
        if answer == "save":
            self.save_session(on_done=(lambda _out: then()) if then else None)
            return False
        return answer == "discard"

    def closeEvent(self, e) -> None:
        if not self.maybe_keep_changes(then=self.close):
            e.ignore()
            return
        self.settings.save_window(self.saveGeometry(), self.saveState())
        self.settings.brush_size = self.ctl.brush_size
        self.settings.overlay_opacity = round(self.canvas.overlay_opacity * 100)
        self.settings.sync()
        self.client.shutdown()
        if self.autosave is not None:
            self.autosave.discard()  # a clean close: nothing to recover next time
        e.accept()

    # --- file drops on the window -----------------------------------------------------------------
    def dragEnterEvent(self, e) -> None:
        if any(
            Path(f).suffix.lower() in IMAGE_SUFFIXES + jobs.SESSION_SUFFIXES
            for f in dropped_files(e.mimeData())
        ):
            e.acceptProposedAction()

    def dropEvent(self, e) -> None:
        files = dropped_files(e.mimeData())
        if files:
            e.acceptProposedAction()
            self.open_path(files[0])
