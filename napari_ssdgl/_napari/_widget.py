"""The "SSDGL classifier" dock: pick a cube, paint or import labels, train, inspect, reuse.

A thin shell over the engine: every heavy step (training, prediction) runs in a napari thread
worker on copies taken here on the main thread, and the layers are only touched in the
worker's callbacks, which napari delivers on the main thread. Messages go through napari
notifications so a bad input never raises into the viewer.
"""

from __future__ import annotations

import warnings
from functools import partial
from pathlib import Path

import numpy as np
from magicgui.widgets import ComboBox
from napari.layers import Image, Labels, Layer
from napari.utils import progress
from napari.utils.notifications import show_error, show_info, show_warning
from qtpy.QtCore import QEvent, Qt
from qtpy.QtWidgets import (
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QMainWindow,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from napari_ssdgl._napari import _lazy_apply
from napari_ssdgl._napari._accuracy import AccuracyPanel
from napari_ssdgl._napari._classes_table import ClassesTable, label_counts
from napari_ssdgl._napari._jobs import CloseGuard, Job, Outcome
from napari_ssdgl._napari._labels import add_blank_labels, add_imported_labels
from napari_ssdgl._napari._layers import bind_class_hotkeys, class_colors, class_names, is_output
from napari_ssdgl._napari._loss_plot import LossPlot
from napari_ssdgl._napari._outputs import score, show_class_map, show_prediction, show_suggestions
from napari_ssdgl._napari._remap import parse_remap
from napari_ssdgl._napari._settings import SettingsBox
from napari_ssdgl.prediction.modelfile import load_classifier, save_classifier
from napari_ssdgl.training import Trainer
from napari_ssdgl.transforms.normalize import replace_nonfinite

LABEL_FILES = "Label rasters (*.mat *.tif *.tiff *.png *.npy *.npz *.hdr);;All files (*)"


def _is_cube(layer: Layer) -> bool:
    return (isinstance(layer, Image) and layer.ndim == 3 and not layer.rgb
            and not layer.multiscale and not is_output(layer))


def _is_label_raster(layer: Layer) -> bool:
    return isinstance(layer, Labels) and layer.ndim == 2 and not is_output(layer)


def _button(text: str, slot, tip: str = "") -> QPushButton:
    b = QPushButton(text)
    b.clicked.connect(lambda *_: slot())
    b.setToolTip(tip)
    return b


def _group(title: str, *widgets) -> QGroupBox:
    box = QGroupBox(title)
    layout = QVBoxLayout(box)
    for w in widgets:
        (layout.addLayout if isinstance(w, QHBoxLayout | QFormLayout) else layout.addWidget)(w)
    return box


def _row(*widgets) -> QHBoxLayout:
    row = QHBoxLayout()
    for w in widgets:
        row.addWidget(w)
    return row


class SSDGLWidget(QWidget):
    """Dock widget; the public methods are what the buttons call (and what tests drive)."""

    def __init__(self, napari_viewer):
        super().__init__()
        self.viewer = napari_viewer
        self.classifier = None
        self.last_output: tuple | None = None  # (job, prediction) of the latest map shown
        self.metrics: dict | None = None
        self.config_overrides: dict = {}  # extra TrainConfig fields (tests: tiny model widths)
        self.lazy_options: dict = {}  # predict_dask options for lazy cubes (tile_size, overlap)
        self._jobs: list[Job] = []  # running background jobs (at most one)
        self._build()
        layers = self.viewer.layers
        for ev in (layers.events.inserted, layers.events.removed, layers.events.reordered):
            ev.connect(self._refresh_pickers)
        layers.events.inserted.connect(lambda e: e.value.events.name.connect(self._refresh_pickers))
        layers.events.removed.connect(self._on_layer_removed)
        for layer in layers:
            layer.events.name.connect(self._refresh_pickers)
        self._refresh_pickers()
        # closing the viewer mid-run: stop the worker and wait for its thread
        self._close_guard = CloseGuard(self.shutdown, parent=self)
        jobs = self._jobs
        self.destroyed.connect(lambda *_: [j.cancel() for j in list(jobs)])

    # -- layout ------------------------------------------------------------------------------
    def _build(self) -> None:
        v = self.viewer
        self.cube_picker = ComboBox(choices=lambda _: _choices(v, _is_cube))
        self.labels_picker = ComboBox(choices=lambda _: _choices(v, _is_label_raster))
        self.gt_picker = ComboBox(choices=lambda _: _choices(v, _is_label_raster), nullable=True)
        self.apply_picker = ComboBox(choices=lambda _: _choices(v, _is_cube))
        self.labels_picker.changed.connect(self._on_labels_layer)
        self.classes = ClassesTable()
        form = QFormLayout()
        form.addRow("Cube", self.cube_picker.native)
        form.addRow("Training labels", self.labels_picker.native)
        form.addRow("Ground truth", self.gt_picker.native)
        data = _group("Data", form, _row(
            _button("New labels layer", self.new_labels_layer, "A blank layer the cube's size"),
            _button("Import labels…", self._import_dialog, "Open a label raster file")))
        hint = QLabel("Keys 1–9 pick a class while painting; names are editable.")
        hint.setWordWrap(True)
        classes = _group("Classes", self.classes, hint)
        self.settings = SettingsBox()
        self.train_button = _button("Train", self.train, "Train in the background")
        self.stop_button = _button("Stop", self.stop, "Stop after this iteration; keep the best")
        self.stop_button.setEnabled(False)
        self.status = QLabel("Paint a few pixels of each class, then Train.")
        self.status.setWordWrap(True)
        self.plot = LossPlot()
        training = _group("Training", _row(self.train_button, self.stop_button),
                          self.status, self.plot)
        self.suggest_count = QSpinBox()
        self.suggest_count.setRange(1, 1000)
        self.suggest_count.setValue(20)
        self.suggest_button = _button("Suggest labels", self.suggest_labels,
                                      "Mark the most uncertain pixels, spread out")
        outputs = _group("Where to label next", _row(self.suggest_button, self.suggest_count))
        self.accuracy = AccuracyPanel()
        self.apply_button = _button("Apply to cube", self.apply_to_cube,
                                    "Predict the chosen cube with the current model")
        models = _group("Model", _row(_button("Save model…", self._save_dialog),
                                      _button("Load model…", self._load_dialog)),
                        _row(self.apply_picker.native, self.apply_button))
        body = QWidget()
        layout = QVBoxLayout(body)
        for w in (data, classes, self.settings, training, outputs,
                  _group("Accuracy", self.accuracy), models):
            layout.addWidget(w)
        layout.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(body)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)
        self.setMinimumWidth(340)

    def _refresh_pickers(self, *_) -> None:
        for picker in (self.cube_picker, self.labels_picker, self.gt_picker, self.apply_picker):
            picker.reset_choices()

    def _on_labels_layer(self, layer: Labels | None) -> None:
        self.classes.set_layer(layer)
        if layer is not None:
            bind_class_hotkeys(layer)

    def _on_layer_removed(self, event) -> None:
        for job in self._jobs:
            if event.value.name in job.source_layers:
                show_info(f"'{event.value.name}' was removed while SSDGL is running; it goes on "
                          "with the copy taken at the start, and its outputs will be added.")

    @property
    def running(self) -> bool:
        return bool(self._jobs)

    # -- labels ------------------------------------------------------------------------------
    def new_labels_layer(self) -> Labels | None:
        """A blank 2-D labels layer the size of the cube, selected in paint mode."""
        cube = self.cube_picker.value
        if cube is None:
            show_error("Pick a cube first: the new labels layer takes its rows and columns.")
            return None
        layer = add_blank_labels(self.viewer, cube, self.gt_picker.value)
        self.labels_picker.value = layer
        return layer

    def import_labels(self, path: str | Path, remap: dict[int, int] | None = None) -> Labels | None:
        """Add the label raster in ``path`` as the training-labels layer, values remapped."""
        try:
            layer, warning = add_imported_labels(self.viewer, path, remap,
                                                 self.cube_picker.value)
        except (OSError, ValueError) as exc:
            show_error(f"Could not import labels: {exc}")
            return None
        if warning:
            show_warning(warning)
        self.labels_picker.value = layer
        return layer

    def _import_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Import labels", "", LABEL_FILES)
        if not path:
            return
        text, ok = QInputDialog.getText(
            self, "Remap label values", "Optional 'old:new' pairs, e.g. '3:1, 5:2' (empty keeps "
            "the values; ':0' drops a class):")
        try:
            remap = parse_remap(text) if ok else {}
        except ValueError as exc:
            show_error(f"Remap ignored: {exc}")
            remap = {}
        self.import_labels(path, remap)

    # -- training ----------------------------------------------------------------------------
    def train(self) -> Job | None:
        """Start training on the picked cube and labels; returns the running job."""
        if self.running:
            show_info("SSDGL is already running; press Stop first.")
            return None
        cube_layer, labels_layer = self.cube_picker.value, self.labels_picker.value
        if cube_layer is None:
            show_error("Open a hyperspectral cube first (a 3-D image layer: bands, rows, cols).")
            return None
        if labels_layer is None:
            show_error("No training labels: click 'New labels layer', paint a few pixels of each "
                       "class, then Train.")
            return None
        labels = np.array(labels_layer.data, copy=True)
        if labels.shape != tuple(cube_layer.data.shape[1:]):
            show_error(f"The labels layer '{labels_layer.name}' is {_size(labels_layer, 0)}"
                       f" but the cube '{cube_layer.name}' is {_size(cube_layer)}; use "
                       "'New labels layer' to make one the cube's size.")
            return None
        cube = self._cube_copy(cube_layer)
        gt = self._gt_copy(cube.shape[1:])
        values = sorted(label_counts(labels))
        names = class_names(labels_layer) or class_names(cube_layer)
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                trainer = Trainer(
                    cube, labels, self.settings.config(**self.config_overrides), test_labels=gt,
                    class_names=names, colors=class_colors(labels_layer, values),
                    wavelengths=cube_layer.metadata.get("wavelengths"))
        except (ValueError, TypeError) as exc:
            show_error(f"Cannot train: {exc}")
            return None
        for w in caught:
            show_warning(str(w.message))
        job = Job("train", cube_layer.name, cube, tuple(cube_layer.scale[-2:]),
                  tuple(cube_layer.translate[-2:]), train_labels=labels, gt=gt, trainer=trainer,
                  source_layers=(cube_layer.name, labels_layer.name), device=trainer.config.device,
                  tta=self.settings.tta.isChecked())
        job.pbar = progress(total=trainer.config.iterations, desc="SSDGL training")
        self.plot.reset()
        self.status.setText(f"Training {trainer.config.model} on {int((labels > 0).sum())} "
                            f"labelled pixels in {len(values)} classes…")
        self._start(job)
        return job

    def stop(self) -> None:
        """Stop training after the current iteration; the best model so far is kept."""
        for job in self._jobs:
            job.stop()
        if self._jobs:
            self.status.setText("Stopping after the tiles in progress…" if self._jobs[0].kind
                                == "lazy" else "Stopping after this iteration…")

    def shutdown(self) -> None:
        """Stop background work and wait for its thread (the viewer is closing)."""
        for job in list(self._jobs):
            job.cancel()

    def _start(self, job: Job) -> None:
        self._watch_main_window()  # the dock may have moved into the window after ParentChange
        self._jobs.append(job)
        self.train_button.setEnabled(False)
        self.apply_button.setEnabled(False)
        self.stop_button.setEnabled(job.kind in ("train", "lazy"))
        slots = {"returned": partial(self._on_outcome, job),
                 "finished": partial(self._on_finished, job)}
        if job.kind == "train":
            slots["yielded"] = partial(self._on_event, job)
        elif job.kind == "lazy":
            slots["yielded"] = partial(self._on_lazy_event, job)
        job.start(slots)

    def _on_event(self, job: Job, event) -> None:
        if job.cancelled or job.outcome is not None:
            return
        eta = event.elapsed_s / event.iteration * (event.iterations - event.iteration)
        text = (f"Iteration {event.iteration}/{event.iterations}   loss {event.loss:.3f}   "
                f"ETA {_duration(eta)}")
        if event.validation:
            text += f"   validation OA {event.validation['oa']:.1%}"
        self.status.setText(text)
        self.plot.add(event)
        if event.preview is not None:
            show_class_map(self.viewer, job, event.preview, job.trainer.colors)
        # last: moving napari's progress bar processes pending Qt events, so the worker's result
        # (and its end) may be handled inside this call; nothing here may come after it
        job.pbar.update(event.iteration - job.pbar.n)

    def _on_outcome(self, job: Job, outcome: Outcome) -> None:
        job.outcome = outcome
        if job.cancelled or outcome.cancelled:
            return
        if job.kind == "lazy":
            self._on_lazy_outcome(job, outcome)
            return
        if outcome.error is not None:
            what = "Training" if job.kind == "train" else "Prediction"
            show_error(f"{what} failed: {outcome.error}")
            self.status.setText(f"{what} failed: {outcome.error}")
            return
        self.classifier = outcome.classifier
        self._show_outputs(job, outcome.prediction)

    def _on_finished(self, job: Job) -> None:
        if job in self._jobs:
            self._jobs.remove(job)
        if job.cancelled:  # the viewer is closing; cancel() closed the progress bar
            return
        job.pbar.close()
        self.plot.flush()
        self.train_button.setEnabled(True)
        self.apply_button.setEnabled(True)
        self.stop_button.setEnabled(False)

    def event(self, event) -> bool:
        if event.type() == QEvent.Type.ParentChange:  # docked: watch the main window
            self._watch_main_window()
        return super().event(event)

    def _watch_main_window(self) -> None:
        parent = self.parent()
        while parent is not None and not isinstance(parent, QMainWindow):
            parent = parent.parent()
        if parent is not None:
            self._close_guard.watch(parent)

    # -- outputs ---------------------------------------------------------------------------
    def _show_outputs(self, job: Job, prediction) -> None:
        clf, active = self.classifier, self.viewer.layers.selection.active
        show_prediction(self.viewer, job, prediction, clf)
        self.last_output = (job, prediction)
        result = score(self.viewer, job, prediction, clf)
        self.metrics = result if isinstance(result, dict) else None
        if self.metrics is None:
            self.accuracy.clear(result)
        else:
            self.accuracy.show_metrics(self.metrics, clf.class_names)
        if active is not None and active in self.viewer.layers:
            self.viewer.layers.selection.active = active  # keep painting where the user was
        done = "Model trained" if job.kind == "train" else "Model applied"
        if job.trainer is not None and job.trainer.stopped:
            done = f"Stopped at iteration {job.trainer.iterations_done}; best model kept"
        self.status.setText(f"{done}: '{job.cube_name} prediction' ({clf.num_classes} classes)"
                            + (f"; OA {self.metrics['oa']:.1%}" if self.metrics else "."))

    def suggest_labels(self, k: int | None = None) -> Layer | None:
        """Points on the ``k`` most uncertain unlabelled pixels of the latest map, spread out."""
        if self.last_output is None:
            show_warning("Train or apply a model first: suggestions come from its uncertainty.")
            return None
        job, prediction = self.last_output
        labels = self.labels_picker.value
        return show_suggestions(self.viewer, job, prediction.entropy,
                                int(k or self.suggest_count.value()),
                                None if labels is None else np.asarray(labels.data))

    # -- models ------------------------------------------------------------------------------
    def save_model(self, directory: str | Path) -> Path | None:
        if self.classifier is None:
            show_error("No model to save yet: train one first.")
            return None
        try:
            path = save_classifier(self.classifier, directory)
        except (OSError, ValueError) as exc:
            show_error(f"Could not save the model: {exc}")
            return None
        show_info(f"Model saved to {path}")
        return Path(path)

    def load_model(self, directory: str | Path):
        try:
            clf = load_classifier(directory)
        except (OSError, ValueError) as exc:
            show_error(f"Could not load the model: {exc}")
            return None
        self.classifier = clf
        self.status.setText(f"Loaded {clf.model_name} model: {clf.bands} bands, "
                            f"{clf.num_classes} classes. Pick a cube and Apply.")
        return clf

    def apply_to_cube(self, layer: Image | None = None) -> Job | None:
        """Predict ``layer`` (default: the 'apply' picker) with the current model, off-thread."""
        clf = self.classifier
        layer = layer if layer is not None else self.apply_picker.value
        if clf is None:
            show_error("No model yet: train one or load a saved model first.")
            return None
        if self.running:
            show_info("SSDGL is already running; wait for it or press Stop.")
            return None
        if layer is None or layer.ndim != 3:
            show_error("Pick a cube (3-D image layer) to apply the model to.")
            return None
        if layer.data.shape[0] != clf.bands:
            show_error(f"Band mismatch: the model was trained on {clf.bands} bands but "
                       f"'{layer.name}' has {layer.data.shape[0]}. Apply it only to cubes from "
                       "the same sensor and band set.")
            return None
        if _lazy_apply.is_lazy(layer.data):
            return self._apply_lazy(layer, clf)
        cube = self._cube_copy(layer, fill=clf.mean)
        train_cube = self.cube_picker.value is layer
        labels = self.labels_picker.value if train_cube else None
        train_labels = None
        if labels is not None and labels.data.shape == cube.shape[1:]:
            train_labels = np.array(labels.data, copy=True)
        job = Job("apply", layer.name, cube, tuple(layer.scale[-2:]), tuple(layer.translate[-2:]),
                  train_labels=train_labels, gt=self._gt_copy(cube.shape[1:]), classifier=clf,
                  source_layers=(layer.name,), device=self.settings.device.currentText(),
                  tta=self.settings.tta.isChecked())
        job.pbar = progress(total=0, desc="SSDGL prediction")
        self.status.setText(f"Applying the model to '{layer.name}'…")
        self._start(job)
        return job

    def _apply_lazy(self, layer: Image, clf) -> Job | None:
        """Tiled prediction of a dask (or too big to copy) cube in the background; the class map
        is made now, all 0, and filled in tile by tile as the tiles finish."""
        shape = tuple(layer.data.shape[1:])
        labels = self.labels_picker.value if self.cube_picker.value is layer else None
        train_labels = None
        if labels is not None and tuple(labels.data.shape) == shape:
            train_labels = np.array(labels.data, copy=True)
        try:
            job = _lazy_apply.make_job(self.viewer, layer, clf,
                                       device=self.settings.device.currentText(),
                                       options=self.lazy_options, gt=self._gt_copy(shape),
                                       train_labels=train_labels,
                                       tta=self.settings.tta.isChecked())
        except (ImportError, ValueError) as exc:
            show_error(f"Cannot apply the model to '{layer.name}': {exc}")
            return None
        job.pbar = progress(total=job.blocks, desc="SSDGL prediction")
        self.status.setText(f"Applying the model to '{layer.name}' tile by tile "
                            f"({job.blocks} tiles, after the scene statistics)…")
        self._start(job)
        return job

    def _on_lazy_event(self, job: Job, event) -> None:
        if job.cancelled or job.outcome is not None:
            return
        self.status.setText(_lazy_apply.on_event(job, event))
        _lazy_apply.show_progress(job)  # last, as in _on_event: it may handle the result

    def _on_lazy_outcome(self, job: Job, outcome: Outcome) -> None:
        error = _lazy_apply.finish(self.viewer, job, outcome)
        name = f"'{job.cube_name} prediction'"
        if error is not None:
            show_error(f"Prediction failed: {error}")
            self.status.setText(f"Prediction failed: {error}")
        elif job.stopping:
            self.status.setText(f"Stopped: {job.blocks_done} of {job.blocks} tiles of {name} "
                                "done" + ("; the rest is 0 (unlabelled)." if job.blocks_done
                                          else f"; {name} is as it was before."))
        else:
            clf = job.classifier
            result = score(self.viewer, job, _Map(job.output), clf)
            self.metrics = result if isinstance(result, dict) else None
            if self.metrics is None:
                self.accuracy.clear(result)
            else:
                self.accuracy.show_metrics(self.metrics, clf.class_names)
            self.status.setText(f"Model applied: {name} ({clf.num_classes} classes)"
                                + (f"; OA {self.metrics['oa']:.1%}" if self.metrics else "."))

    def _save_dialog(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Save model into folder")
        if path:
            self.save_model(path)

    def _load_dialog(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Load model from folder")
        if path:
            self.load_model(path)

    # -- copies for the worker ---------------------------------------------------------------
    def _cube_copy(self, layer: Image, fill=None) -> np.ndarray:
        """float32 copy of the cube with NaN/inf replaced (warned once, here)."""
        cube, messages = replace_nonfinite(np.asarray(layer.data), fill=fill)
        for m in messages:
            show_warning(f"'{layer.name}': {m}")
        return cube

    def _gt_copy(self, shape) -> np.ndarray | None:
        gt_layer = self.gt_picker.value
        if gt_layer is None:
            return None
        if tuple(gt_layer.data.shape) != tuple(shape):
            show_warning(f"Ground truth '{gt_layer.name}' is {_size(gt_layer, 0)}, not "
                         f"{shape[0]}×{shape[1]}; accuracy is skipped.")
            return None
        return np.array(gt_layer.data, copy=True)


class _Map:
    """The part of a Prediction that scoring reads (a lazy apply has no probabilities)."""

    def __init__(self, labels: np.ndarray) -> None:
        self.labels = labels


def _choices(viewer, predicate) -> list[tuple[str, Layer]]:
    return [(layer.name, layer) for layer in viewer.layers if predicate(layer)]


def _size(layer: Layer, skip: int = 1) -> str:
    return "×".join(str(n) for n in layer.data.shape[skip:])


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}" if seconds >= 60 else f"{seconds} s"
