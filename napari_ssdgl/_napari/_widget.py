"""The "SSDGL classifier" dock: pick a cube, paint or import labels, train, inspect, reuse.

A thin shell over the engine, laid out from boxes that each do one part: ``_data_box`` (what
to work on, and the copies a job takes), ``_training_box``, ``_bands_box`` (suspect bands, the
bands to exclude), ``_results_box`` (accuracy, where
to label next), ``_model_box`` (save, load, apply), ``_assess_box`` (accuracy and area from a
reference sample) and ``_runner`` (the background jobs).
This module only places them (on tabs: Label · Train · Results · Assess · Model, under a header with
Train/Stop and the status; see ``SSDGLWidget._lay_out``) and connects them. Every heavy step
runs in a napari thread worker on copies taken on the main thread, the layers are only touched
in the worker's callbacks (which napari delivers on the main thread), and messages go through
napari notifications so a bad input never raises into the viewer.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from napari.layers import Image, Labels, Layer
from qtpy.QtCore import QEvent, Qt
from qtpy.QtWidgets import (
    QFrame,
    QGroupBox,
    QLabel,
    QScrollArea,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from napari_ssdgl._napari._assess_box import AssessBox
from napari_ssdgl._napari._bands_box import BandsBox
from napari_ssdgl._napari._classes_table import ClassesTable
from napari_ssdgl._napari._data_box import DataBox
from napari_ssdgl._napari._history import PreviousRun
from napari_ssdgl._napari._jobs import Job
from napari_ssdgl._napari._layers import bind_class_hotkeys
from napari_ssdgl._napari._lazy_apply import LazyJob
from napari_ssdgl._napari._live_box import LiveBox
from napari_ssdgl._napari._messages import MessageLine
from napari_ssdgl._napari._model_box import ModelBox
from napari_ssdgl._napari._results_box import ResultsBox
from napari_ssdgl._napari._runner import Runner
from napari_ssdgl._napari._settings import SettingsBox
from napari_ssdgl._napari._training_box import TrainingBox
from napari_ssdgl._napari._ui import group
from napari_ssdgl._napari._views import ViewsBox
from napari_ssdgl._napari._warmup import warm_up
from napari_ssdgl.prediction.classifier import Classifier

TABS = ("Label", "Train", "Results", "Assess", "Model")  # the loop's steps, left to right
# (tab, section title, attribute of the dock or a part made in _lay_out), top to bottom
SECTIONS = (
    ("Label", "Data", "data"),
    ("Label", "Bands", "bands"),  # of the picked cube; the Train tab has no room left
    ("Label", "Classes", "classes"),
    ("Label", "Live map", "live"),
    ("Train", "Settings", "settings"),
    ("Train", "Training curve", "curve"),
    ("Results", "View", "views"),
    ("Results", "", "results"),  # its own boxes: where to label next, accuracy
    ("Assess", "Accuracy and area (reference sample)", "assess"),
    ("Model", "Model", "model"),
)


def _forward(box: str, name: str, doc: str) -> property:
    """A read/write attribute of the dock that lives on one of its boxes."""
    return property(lambda self: getattr(getattr(self, box), name),
                    lambda self, value: setattr(getattr(self, box), name, value), doc=doc)


class SSDGLWidget(QWidget):
    """Dock widget; the public methods are what the buttons call (and what tests and scripts
    drive). The boxes' widgets are also reachable under their old names (``train_button``,
    ``gt_picker``, ``status``, ...)."""

    classifier = _forward("model", "classifier", "The current model: trained here or loaded.")
    metrics = _forward("results", "metrics", "Accuracy of the latest map, if it was scored.")
    last_output = _forward("results", "last_output", "(job, prediction) of the latest map.")
    config_overrides = _forward("training", "config_overrides",
                                "Extra TrainConfig fields (tests: tiny model widths).")
    lazy_options = _forward("model", "lazy_options",
                            "predict_dask options for lazy cubes (tile_size, overlap).")

    def __init__(self, napari_viewer):
        super().__init__()
        self.viewer = v = napari_viewer
        self.runner = Runner(self, on_change=self._on_jobs_changed)
        self.data = DataBox(v)
        self.classes = ClassesTable()
        self.settings = SettingsBox(foldable=False, title="Settings")
        self.bands = BandsBox(lambda: self.data.cube_picker.value)
        self.results = ResultsBox(v, self.data.labels_picker)
        self.training = TrainingBox(v, self.data, self.settings, self.bands, self.runner,
                                    self.results, on_trained=self._set_classifier)
        self.model = ModelBox(v, self.data, self.settings, self.runner, self.results,
                              status=self.training.status, bar=self.training.progress)
        self.live = LiveBox(v, self.data)
        self.assess = AssessBox(v, training_labels=lambda: self.data.labels_picker.value,
                                cube=lambda: self.data.cube_picker.value)
        self.previous = PreviousRun(v, self.results, lambda: self.model.classifier,
                                    self._set_classifier, self.training.status)
        self.views = ViewsBox(v, lambda: (self.data.cube_picker.value,
                                          self.data.labels_picker.value,
                                          self.data.gt_picker.value), self.restore_previous)
        self.previous.on_change = lambda: self.views.restore_button.setEnabled(
            self.previous.available and not self.runner.running)
        self._job: Job | None = None
        self.messages = MessageLine()  # the plugin's warnings and errors, in full
        self._name_widgets()
        self._lay_out()
        self._wire()

    def _name_widgets(self) -> None:
        d, t, m, r = self.data, self.training, self.model, self.results
        self.cube_picker, self.labels_picker, self.gt_picker = (d.cube_picker, d.labels_picker,
                                                                d.gt_picker)
        self.train_button, self.stop_button = t.train_button, t.stop_button
        self.refine_button = t.refine_button
        self.status, self.plot = t.status, t.plot
        self.apply_picker, self.apply_button = m.apply_picker, m.apply_button
        self.accuracy, self.suggest_count, self.suggest_button = (r.accuracy, r.suggest_count,
                                                                  r.suggest_button)

    # -- layout ------------------------------------------------------------------------------
    def _lay_out(self) -> None:
        """Tabs, one per step of the loop, under a header that every tab shares.

        Why tabs rather than folding sections in one column: every section open, the column
        was 1,205 px tall, and folding only works if the user keeps folding; a tab holds one
        step's controls at their full size and the dock's height is the tallest tab's, which
        fits a 1000-px screen beside napari's layer controls (``tests/_napari/
        test_dock_layout.py`` measures it). The header holds what the user needs on every step
        without switching: Train · Refine · Stop, the progress bar, the status line and the
        message line, so painting on *Label* and pressing Train never leaves the tab. Each
        page scrolls on its own on a shorter screen, the header never does.

        Sections are the rows of ``SECTIONS`` (tab, title, attribute); another box is one
        :meth:`add_section` call.
        """
        hint = QLabel("Keys 1–9 pick a class while painting; names are editable.")
        hint.setWordWrap(True)
        parts = {"classes": group("Classes", self.classes, hint),
                 "curve": group("Training curve", self.plot)}
        self.tabs = QTabWidget()
        self.tabs.setUsesScrollButtons(True)
        self._pages: dict[str, QVBoxLayout] = {}
        for tab in TABS:
            self._page(tab)
        for tab, title, name in SECTIONS:
            widget = parts[name] if name in parts else getattr(self, name)
            self.add_section(title, widget, tab=tab)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 6, 0, 0)  # room for the header box's title
        outer.addWidget(self.training)
        outer.addWidget(self.messages)
        outer.addWidget(self.tabs, 1)
        self.setMinimumWidth(340)

    def _page(self, tab: str) -> QVBoxLayout:
        """The layout of ``tab``'s page (made, before the *Model* tab, when new)."""
        if tab not in self._pages:
            body = QWidget()
            layout = QVBoxLayout(body)
            layout.addStretch(1)  # sections stack at the top
            scroll = QScrollArea()
            scroll.setWidgetResizable(True)
            scroll.setFrameShape(QFrame.Shape.NoFrame)
            scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
            scroll.setWidget(body)
            last = [self.tabs.tabText(i) for i in range(self.tabs.count())][-1:]
            at = self.tabs.count() - 1 if last == [TABS[-1]] else self.tabs.count()
            self.tabs.insertTab(at, scroll, tab)
            self._pages[tab] = layout
        return self._pages[tab]

    def add_section(self, title: str, widget: QWidget, tab: str | None = None) -> QWidget:
        """Place ``widget`` on tab ``tab`` (default: a tab of its own named ``title``, made
        before *Model*), below the sections already there; returns what was placed.

        A ``QGroupBox`` (or a widget with an empty ``title``) is placed as it is; anything else
        goes in a box titled ``title``.
        """
        layout = self._page(tab or title)
        box = widget if isinstance(widget, QGroupBox) or not title else group(title, widget)
        layout.insertWidget(layout.count() - 1, box)  # before the stretch
        return box

    # -- wiring ------------------------------------------------------------------------------
    def _wire(self) -> None:
        self.labels_picker.changed.connect(self._on_labels_layer)
        self.training.refine_source = lambda: self.model.classifier
        self.training.map_lazily = self.model.map_trained
        self.model.on_model = lambda: self._on_jobs_changed(
            self.runner.jobs[-1] if self.runner.jobs else None)
        layers = self.viewer.layers
        for ev in (layers.events.inserted, layers.events.removed, layers.events.reordered):
            ev.connect(self._refresh_pickers)
        layers.events.inserted.connect(lambda e: e.value.events.name.connect(self._refresh_pickers))
        layers.events.removed.connect(self._on_layer_removed)
        for layer in layers:
            layer.events.name.connect(self._refresh_pickers)
        self._refresh_pickers()
        self.classes.counted.connect(self.training.hint)
        self.data.cube_picker.changed.connect(lambda *_: self.training.hint())
        self.data.cube_picker.changed.connect(self._warm_up)
        self.data.cube_picker.changed.connect(lambda *_: self.bands.update_count())
        self._warm_up()
        self.training.hint()

    def _warm_up(self, *_) -> None:
        """The training path warmed on the picked cube's shape while the user paints."""
        cube = self.data.cube_picker.value
        if cube is not None and isinstance(cube.data, np.ndarray):
            try:
                warm_up(tuple(cube.data.shape), self.settings.config(**self.config_overrides))
            except (TypeError, ValueError):
                pass

    def _refresh_pickers(self, *_) -> None:
        self.data.reset_choices()
        self.apply_picker.reset_choices()
        self.assess.reset_choices()

    def _on_labels_layer(self, layer: Labels | None) -> None:
        self.classes.set_layer(layer)
        if layer is not None:
            bind_class_hotkeys(layer)

    def _on_layer_removed(self, event) -> None:
        self.runner.warn_removed(event.value.name)

    def _on_jobs_changed(self, job: Job | None) -> None:
        self.training.set_running(job)
        self.model.set_running(job)
        if job is not self._job:  # a job started (remember what it may replace) or ended
            if job is None:
                self.previous.after_run(self._job)
            elif not isinstance(job, LazyJob):
                self.previous.remember(job)
            self._job = job
        self.previous.on_change()

    def restore_previous(self) -> bool:
        """Put back the map and model the last run replaced (a second call swaps back)."""
        return False if self.running else self.previous.restore()

    def _set_classifier(self, clf: Classifier) -> None:
        self.model.classifier = clf

    def event(self, event) -> bool:
        if event.type() == QEvent.Type.ParentChange:  # docked: watch the main window
            self.runner.watch_window()
        return super().event(event)

    # -- what the buttons call ---------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.runner.running

    def detect_bad_bands(self):
        """Detect the picked cube's suspect bands in the background (shaded on the spectral
        plot, named in the message line); returns the worker."""
        return self.bands.detect()

    def new_labels_layer(self) -> Labels | None:
        """A blank 2-D labels layer the size of the cube, selected in paint mode."""
        return self.data.new_labels_layer()

    def import_labels(self, path: str | Path, remap: dict[int, int] | None = None) -> Labels | None:
        """Add the label raster in ``path`` as the training-labels layer, values remapped."""
        return self.data.import_labels(path, remap)

    def train(self) -> Job | None:
        """Start training on the picked cube and labels; returns the running job."""
        return self.training.train()

    def refine(self) -> Job | None:
        """Continue SSDGL from the current model with the current labels (a short round)."""
        return self.training.refine()

    def stop(self) -> None:
        """Stop the running job early: training after this iteration (the best model so far is
        kept), a tiled prediction after the tiles in progress."""
        self.training.stop()

    def shutdown(self) -> None:
        """Stop background work and wait for its thread (the viewer is closing)."""
        self.live.shutdown()
        self.runner.shutdown()

    def suggest_labels(self, k: int | None = None) -> Layer | None:
        """Points on the ``k`` most uncertain unlabelled pixels of the latest map, spread out."""
        return self.results.suggest_labels(k)

    def save_model(self, directory: str | Path) -> Path | None:
        return self.model.save_model(directory)

    def load_model(self, directory: str | Path) -> Classifier | None:
        return self.model.load_model(directory)

    def apply_to_cube(self, layer: Image | None = None) -> Job | None:
        """Predict ``layer`` (default: the 'apply' picker) with the current model, off-thread."""
        return self.model.apply_to_cube(layer)
