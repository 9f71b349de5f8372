"""The "Training" box: Train, Refine and Stop, the status line and the live loss curve.

Refine continues SSDGL from the current model (``refine_source()``, set by the dock) with the
current labels for the settings' refine iterations (``Trainer(init_from=...)``).

:meth:`TrainingBox.train` checks the picks, copies the cube (a lazy cube that trains in
windows is handed over as it is: never copied whole), labels and ground truth here on
the main thread and hands a :class:`TrainJob` to the runner. The worker builds the Trainer
(a lazy cube's statistics and an ``auto`` band detection take long: never on the main thread)
and yields :class:`Ready`, then the TrainEvents; the curve, the preview map and the progress bar
move in the main-thread slot of each.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial

import numpy as np
from napari.utils.notifications import show_error, show_info, show_warning
from qtpy.QtCore import QTimer
from qtpy.QtWidgets import QGroupBox, QLabel

from napari_ssdgl._napari._bands_box import BandsBox
from napari_ssdgl._napari._classes_table import label_counts
from napari_ssdgl._napari._data_box import DataBox
from napari_ssdgl._napari._jobs import Job, Outcome, Ready, TrainJob, TrainSetup, train_and_predict
from napari_ssdgl._napari._layers import (
    centred,
    class_colors,
    class_names,
    in_view,
    size_text,
)
from napari_ssdgl._napari._lazy_apply import too_big_to_load
from napari_ssdgl._napari._loss_plot import LossPlot
from napari_ssdgl._napari._outputs import show_class_map
from napari_ssdgl._napari._progress import TrainProgress
from napari_ssdgl._napari._results_box import ResultsBox, record_scores
from napari_ssdgl._napari._runner import Runner
from napari_ssdgl._napari._settings import FIRST_PREVIEW_SECONDS, SettingsBox
from napari_ssdgl._napari._ui import button, fill, row
from napari_ssdgl.analysis.band_syntax import BandSyntaxError, format_bands
from napari_ssdgl.prediction.classifier import Classifier

# a lazy cube trained in windows previews the part in view, at most this many px a side
# (a whole preview of a 2048 px scene is a pass over it; see benchmarks/README.md)
PREVIEW_PX = 384


class TrainingBox(QGroupBox):
    """Trains on the data box's picks with the settings box's config; ``on_trained(clf)``
    receives each finished model (also after Stop: the best one so far)."""

    def __init__(self, viewer, data: DataBox, settings: SettingsBox, bands: BandsBox,
                 runner: Runner, results: ResultsBox, on_trained: Callable[[Classifier], None],
                 parent=None):
        super().__init__("Training", parent)
        self.viewer, self.data, self.settings, self.runner = viewer, data, settings, runner
        self.bands = bands  # the bands to leave out
        self.results, self.on_trained = results, on_trained
        self.config_overrides: dict = {}  # extra TrainConfig fields (tests: tiny model widths)
        self.train_button = button("Train", self.train, "Train in the background")
        self.stop_button = button("Stop", self.stop, "Stop after this iteration; keep the best")
        self.stop_button.setEnabled(False)
        self.refine_source: Callable[[], Classifier | None] = lambda: None  # the current model
        # a lazy cube's map after training, tile by tile: (layer, model, training job, status
        # line's first words) -> the job started (set by the dock: the Model box's Apply)
        self.map_lazily: Callable[..., Job | None] = lambda *args: None
        self.refine_button = button("Refine", self.refine, "Continue from the current model "
                                    "with the current labels for a short schedule")
        self.refine_button.setEnabled(False)
        self.status = QLabel()  # its first text: hint(), once the dock's pickers are set
        self.status.setWordWrap(True)
        self._hinting = True  # the status says what to do next, until a first job starts
        self.plot = LossPlot()
        # the dock's own bar, ETA from steady-state iterations. Training has no napari progress
        # bar: while one exists napari animates its activity indicator, and on a display drawn
        # by the CPU (Xvfb, VNC, no GPU) that repainting halved the training speed of a 2-core
        # machine (Indian Pines: 1.35 vs 0.66 s per iteration, benchmarks/README.md)
        self.progress = TrainProgress()
        self._preview_layer = None  # the cube layer of the running training (its view)
        self._asked_at: float | None = None  # when the pending preview was asked for
        self._preview_clock = QTimer(self)  # asks the running trainer for a preview map
        self._preview_clock.setSingleShot(True)
        self._preview_clock.timeout.connect(self._ask_for_preview)
        # the curve is not in this box: the dock shows it on its Train tab, this box above the tabs
        fill(self, row(self.train_button, self.refine_button, self.stop_button), self.progress,
             self.status)

    def refine(self) -> TrainJob | None:
        """Continue from the current model with the current labels (new classes get rows)."""
        clf = self.refine_source()
        if clf is None:
            show_error("No model to refine yet: Train or load one first.")
            return None
        return self.train(init_from=clf)

    def train(self, init_from: Classifier | None = None) -> TrainJob | None:
        """Start training on the picked cube and labels (from ``init_from``'s weights: a
        refine); returns the running job."""
        if self.runner.running:
            show_info("SSDGL is already running; press Stop first.")
            return None
        cube_layer, labels_layer = self.data.cube_picker.value, self.data.labels_picker.value
        if cube_layer is None:
            show_error("Open a hyperspectral cube first (a 3-D image layer: bands, rows, cols).")
            return None
        if labels_layer is None:
            show_error("No training labels: click 'New labels layer', paint a few pixels of each "
                       "class, then Train.")
            return None
        refused = self.data.refused_as_labels(labels_layer)
        if refused:
            show_error(f"Cannot train: {refused}")
            return None
        labels = np.array(labels_layer.data, copy=True)
        if labels.shape != tuple(cube_layer.data.shape[1:]):
            show_error(f"The labels layer '{labels_layer.name}' is {size_text(labels_layer, 0)}"
                       f" but the cube '{cube_layer.name}' is {size_text(cube_layer)}; use "
                       "'New labels layer' to make one the cube's size.")
            return None
        try:
            bands = self.bands.request(cube_layer)
            if bands is not None and not bands.detects:
                bands.resolve()  # a bad list is refused now; only a detection waits for the worker
        except BandSyntaxError as exc:
            show_error(refusal(exc))
            return None
        overrides = dict(self.config_overrides)
        if init_from is not None:
            overrides["iterations"] = self.settings.refine_iterations.value()
            overrides["lr"] = self.settings.refine_lr.value()
        try:
            config = self.settings.config(**overrides)
        except (ValueError, TypeError) as exc:
            show_error(refusal(exc))
            return None
        if config.window is None and too_big_to_load(cube_layer.data):
            show_error(f"'{cube_layer.name}' is a lazy cube too big to load: it trains in "
                       "windows, never whole. Set 'Training window' (Train tab) above 0, "
                       "e.g. 160.")
            return None
        cube = self.data.training_cube(cube_layer, config.window)
        gt = self.data.copy_gt(cube.shape[1:])
        values = sorted(label_counts(labels))
        md = cube_layer.metadata
        setup = TrainSetup(config, class_names(labels_layer) or class_names(cube_layer),
                           class_colors(labels_layer, values), md.get("wavelengths"),
                           md.get("wavelength_units"), md.get("fwhm"), init_from, bands)
        job = TrainJob(cube_layer.name, cube, tuple(cube_layer.scale[-2:]),
                       tuple(cube_layer.translate[-2:]), train_labels=labels, gt=gt,
                       setup=setup, source_layers=(cube_layer.name, labels_layer.name),
                       device=config.device, tta=self.settings.tta.isChecked(),
                       gt_name=self.data.gt_picker.value.name if gt is not None else None,
                       lazy=cube is cube_layer.data)
        self.plot.reset()
        self.progress.start(config.iterations)
        self.status.setText(f"{self._doing(job)}: preparing…")
        self._preview_layer = cube_layer
        return self.runner.start(job, train_and_predict,
                                 yielded=partial(self._on_yield, cube_layer),
                                 returned=self._on_outcome)

    @staticmethod
    def _doing(job: TrainJob) -> str:
        verb = "Training" if job.setup.init_from is None else "Refining"
        labels = job.train_labels
        return (f"{verb} {job.setup.config.model} on {int((labels > 0).sum())} labelled pixels "
                f"in {len(label_counts(labels))} classes")

    def _on_ready(self, layer, job: TrainJob, ready: Ready) -> None:
        """The worker built the Trainer: its warnings, the detection it made, the status line,
        and the preview clock from now."""
        for message in ready.warnings:
            show_warning(message)
        if ready.detected is not None and layer.data is job.setup.bands.cube.data:
            self.bands.keep(layer, ready.detected)
        trainer = job.trainer
        held = (f", {trainer.validation_pixels} held out to choose the kept model"
                if trainer.validation_pixels else
                ", all training: too few to hold some out" if trainer.config.keep == "best"
                else "")
        if trainer.windowed:
            n = trainer.config.windows_per_batch
            why = trainer.window_reason or ("more see more classes per step" if n == 1
                                            else "")
            held += (f", in {trainer.config.window} px windows ({n} per iteration"
                     f"{': ' + why if why else ''})")
        sel = trainer.band_selection
        if sel is not None:
            held += (f", on {len(sel.indices)} of {sel.source_bands} bands (without "
                     f"{format_bands(sel.excluded)})")
        self.status.setText(f"{self._doing(job)}{held}…")
        self._schedule_preview(first=True)

    def _schedule_preview(self, first: bool = False, took: float = 0.0) -> None:
        """The next preview request: ``Preview every`` seconds after the last preview came
        (the first sooner), or twice as long as that preview took when it took longer, so
        previews never take more than a third of the training's time."""
        every = self.settings.preview_seconds.value()
        if every > 0:
            delay = min(every, FIRST_PREVIEW_SECONDS) if first else max(every, 2 * took)
            self._preview_clock.start(int(delay * 1000))

    def _ask_for_preview(self) -> None:
        """Ask the running trainer for a preview: of the part in view (at most
        :data:`PREVIEW_PX` a side, around its centre) when it trains in windows on a lazy cube,
        whose whole map would be a pass over the scene."""
        job = next((j for j in self.runner.jobs if isinstance(j, TrainJob)), None)
        if job is not None and job.trainer is not None:
            region = None
            layer = self._preview_layer
            if job.trainer.windowed and layer is not None and layer in self.viewer.layers:
                rows, cols = in_view(layer, job.trainer.train_labels.shape, PREVIEW_PX)
                region = centred(rows, PREVIEW_PX), centred(cols, PREVIEW_PX)
            job.trainer.request_preview(region)
            self._asked_at = time.perf_counter()  # the clock restarts when the preview comes

    def stop(self) -> None:
        """Stop the running job early: training after this iteration, keeping the best model."""
        note = self.runner.stop()
        if note:
            self.status.setText(note)

    def hint(self, counts: dict[int, int] | None = None) -> None:
        """Before the first job, the status line says the next step for the picks as they
        are (``counts``: the training labels' pixels per class, when just counted)."""
        if not self._hinting:
            return
        cube, labels = self.data.cube_picker.value, self.data.labels_picker.value
        if cube is None:
            text = ("Open a hyperspectral cube: File › Open, drag and drop, or File › Open "
                    "Sample › napari-ssdgl.")
        elif labels is None:
            text = ("Click 'New labels layer' (Label tab) and paint a few pixels of each class, "
                    "or 'Import labels…'; then Train.")
        else:
            counts = label_counts(labels.data) if counts is None else counts
            pixels, classes = sum(counts.values()), len(counts)
            text = (f"{pixels} px in {classes} classes painted: press Train, or turn Live on "
                    "for a quick map." if classes >= 2 else
                    f"{pixels} px of {classes} class{'es' if classes != 1 else ''} painted: "
                    "paint a few pixels of at least 2 classes, then Train.")
        self.status.setText(text)

    def set_running(self, job: Job | None) -> None:
        """Buttons for ``job`` running, or for none (then the curve shows its last points)."""
        if job is not None:
            self._hinting = False
        self.train_button.setEnabled(job is None)
        self.refine_button.setEnabled(job is None and self.refine_source() is not None)
        self.stop_button.setEnabled(job is not None and job.stoppable)
        if job is None:
            self._preview_clock.stop()
            self._asked_at = None
            self.plot.flush()

    def _on_yield(self, layer, job: TrainJob, event) -> None:
        """The worker's yields: first Ready (for ``layer``, the cube), then TrainEvents."""
        if isinstance(event, Ready):
            self._on_ready(layer, job, event)
        else:
            self._on_event(job, event)

    def _on_event(self, job: TrainJob, event) -> None:
        eta = self.progress.advance(event.iteration, event.iterations, event.elapsed_s)
        text = (f"Iteration {event.iteration}/{event.iterations}   loss {event.loss:.3f}   "
                f"ETA {eta}")
        if event.validation:
            text += f"   validation OA {event.validation['oa']:.1%} (held-out painted px)"
        if event.test:
            text += f"   test OA {event.test['oa']:.1%}"
        self.status.setText(text)
        self.plot.add(event)
        if event.preview is not None:
            show_class_map(self.viewer, job, event.preview, job.trainer.colors)
            if self._asked_at is not None:
                self._schedule_preview(took=time.perf_counter() - self._asked_at)
                self._asked_at = None

    def _on_outcome(self, job: TrainJob, outcome: Outcome) -> None:
        self.progress.finish("failed" if outcome.error is not None else
                             "stopped" if job.trainer.stopped else "done")
        if outcome.error is not None:  # no trainer: it could not be built
            text = (refusal(outcome.error) if job.trainer is None
                    else f"Training failed: {outcome.error}")
            show_error(text)
            self.status.setText(text)
            return
        clf = outcome.classifier
        self.on_trained(clf)
        done = "Model refined" if job.trainer.init_from is not None else "Model trained"
        if job.trainer.stopped:
            done = f"Stopped at iteration {job.trainer.iterations_done}; best model kept"
        if outcome.prediction is None:  # a lazy cube: mapped tile by tile once this job ends
            layer = self._preview_layer
            if layer is None or layer not in self.viewer.layers:
                self.status.setText(f"{done}; '{job.cube_name}' was removed, so it is not "
                                    "mapped: Apply the model to a cube (Model tab).")
                return
            self.status.setText(f"{done}; mapping '{job.cube_name}' tile by tile…")
            job.then = partial(self.map_lazily, layer, clf, job, done)
            return
        self.status.setText(self.results.show_map(job, outcome.prediction, clf, done))
        record_scores(clf, self.results.metrics)


def refusal(exc: Exception) -> str:
    """Why training cannot start: a bad band list, or what the Trainer's constructor said."""
    if isinstance(exc, BandSyntaxError):
        return f"Cannot train: the bands to exclude (Label tab, Bands): {exc}"
    return f"Cannot train: {exc}"
