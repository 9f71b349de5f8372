"""The "Model" box: save and load the current model, and apply it to a cube.

Apply plans how the cube's bands become the model's first (``Classifier.plan``: as they are,
the model's band selection, or another sensor's cube resampled to the model's band centres,
with a warning in the message line); a cube it cannot plan is refused before anything runs,
so the outputs already there stay as they are. A cube in memory is copied and predicted whole
in the background; a lazy one (dask, or too big to copy) is never copied: it is predicted tile
by tile into a map made up front (see ``_lazy_apply.py``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from napari.layers import Image
from napari.utils.notifications import show_error, show_info, show_warning
from qtpy.QtWidgets import QFileDialog, QGroupBox, QLabel, QMessageBox

from napari_ssdgl._napari import _lazy_apply
from napari_ssdgl._napari._data_box import DataBox
from napari_ssdgl._napari._jobs import Job, Outcome, predict
from napari_ssdgl._napari._lazy_apply import LazyJob
from napari_ssdgl._napari._outputs import show_uncertainty
from napari_ssdgl._napari._pickers import is_cube, layer_picker
from napari_ssdgl._napari._progress import DockProgress, TrainProgress
from napari_ssdgl._napari._results_box import ResultsBox, record_scores
from napari_ssdgl._napari._runner import Runner
from napari_ssdgl._napari._settings import SettingsBox
from napari_ssdgl._napari._ui import button, fill, row
from napari_ssdgl.analysis.band_syntax import format_bands
from napari_ssdgl.prediction.classifier import Classifier, Prediction
from napari_ssdgl.prediction.modelfile import SIDECAR, WEIGHTS, load_classifier, save_classifier
from napari_ssdgl.prediction.spectral import BandMismatchError, BandPlan
from napari_ssdgl.workflows.outputs import Output, check_outputs


def model_text(clf: Classifier | None) -> str:
    """'SSDGL, 6 classes, 190 bands (400-2500 nm); excluded 0-2,103-107 of the 200-band
    training cube': what the model takes, for the Model tab."""
    if clf is None:
        return "No model yet: train one or load a saved model."
    wl = None if clf.wavelengths is None else np.asarray(clf.wavelengths, dtype=float)
    unit = f" {clf.wavelength_units}" if clf.wavelength_units else ""
    span = "" if wl is None or not wl.size else f" ({wl.min():g}-{wl.max():g}{unit})"
    text = f"{clf.model_name}, {clf.num_classes} classes, {clf.bands} bands{span}"
    sel = clf.band_selection
    if sel is not None and sel.excluded:
        text += (f"; excluded {format_bands(sel.excluded)} of the {sel.source_bands}-band "
                 "training cube (dropped the same way when applied to such a cube)")
    return text


def excluded_reasons(clf: Classifier | None) -> str:
    """One line per excluded band that has a reason (the tooltip of the model line)."""
    sel = None if clf is None else clf.band_selection
    if sel is None or not sel.reasons:
        return ""
    return "\n".join(f"band {b}: {why}" for b, why in sorted(sel.reasons.items()))


class ModelBox(QGroupBox):
    """Holds the current model (trained here or loaded); writes to the shared ``status``."""

    def __init__(self, viewer, data: DataBox, settings: SettingsBox, runner: Runner,
                 results: ResultsBox, status: QLabel, bar: TrainProgress, parent=None):
        super().__init__("Model", parent)
        self.viewer, self.data, self.settings, self.runner = viewer, data, settings, runner
        self.results, self.status = results, status
        self.bar = bar  # the dock's progress bar (not napari's: see DockProgress)
        self.info = QLabel()  # what the current model takes: its bands, the ones it excluded
        self.info.setWordWrap(True)
        self._classifier: Classifier | None = None
        self.on_model = lambda: None  # called when a model is loaded (the dock's Refine button)
        self.lazy_options: dict = {}  # predict_dask options for lazy cubes (tile_size, overlap)
        self.apply_picker = layer_picker(viewer, is_cube)
        self.apply_button = button("Apply to cube", self.apply_to_cube,
                                   "Predict the chosen cube with the current model")
        fill(self, self.info, row(button("Save model…", self._save_dialog),
                                  button("Load model…", self._load_dialog)),
             row(self.apply_picker.native, self.apply_button))
        self.classifier = None

    @property
    def classifier(self) -> Classifier | None:
        return self._classifier

    @classifier.setter
    def classifier(self, clf: Classifier | None) -> None:
        self._classifier = clf
        self.info.setText(model_text(clf))
        self.info.setToolTip(excluded_reasons(clf))

    def set_running(self, job: Job | None) -> None:
        self.apply_button.setEnabled(job is None)

    def save_model(self, directory: str | Path) -> Path | None:
        """Save the current model into ``directory``; a folder that already holds files is
        written into only if :meth:`confirm_overwrite` says so."""
        if self.classifier is None:
            show_error("No model to save yet: train one first.")
            return None
        directory = Path(directory)
        try:  # a file where the folder goes, a read-only folder: said before anything is written
            check_outputs([Output(directory, "container"), Output(directory / WEIGHTS),
                           Output(directory / SIDECAR)], overwrite=True)
            held = sorted(p.name for p in directory.iterdir()) if directory.is_dir() else []
        except (OSError, ValueError) as exc:
            show_error(f"Could not save the model: {exc}")
            return None
        if held and not self.confirm_overwrite(directory, held):
            self.status.setText(f"Model not saved: {directory} is not empty.")
            return None
        try:
            path = save_classifier(self.classifier, directory)
        except (OSError, ValueError) as exc:
            show_error(f"Could not save the model: {exc}")
            return None
        show_info(f"Model saved to {path}")
        return Path(path)

    def confirm_overwrite(self, directory: Path, held: list[str]) -> bool:
        """Ask whether to save into ``directory``, which already holds ``held`` (names); True
        to go on. Tests replace this method."""
        shown = ", ".join(held[:5]) + (f" and {len(held) - 5} more" if len(held) > 5 else "")
        replaced = [n for n in (WEIGHTS, SIDECAR) if n in held]
        what = (f"{' and '.join(replaced)} there will be replaced." if replaced
                else "The files there are kept; the model's two files are added.")
        answer = QMessageBox.question(
            self, "Save model into a folder that is not empty",
            f"{directory} already holds {shown}.\n{what}\nSave the model there?",
            QMessageBox.Yes | QMessageBox.No, QMessageBox.No)
        return answer == QMessageBox.Yes

    def load_model(self, directory: str | Path) -> Classifier | None:
        try:
            clf = load_classifier(directory)
        except (OSError, ValueError) as exc:
            show_error(f"Could not load the model: {exc}")
            return None
        self.classifier = clf
        self.on_model()
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
        if self.runner.running:
            show_info("SSDGL is already running; wait for it or press Stop.")
            return None
        if layer is None or layer.ndim != 3:
            show_error("Pick a cube (3-D image layer) to apply the model to.")
            return None
        plan = self.plan(layer, clf)
        if plan is None:
            return None
        if _lazy_apply.is_lazy(layer.data):
            return self._apply_lazy(layer, clf, plan)
        # the model's band means fill NaN/inf only where the cube's bands are the model's
        cube = self.data.copy_cube(layer, fill=clf.mean if plan.kind == "same" else None)
        job = Job(layer.name, cube, tuple(layer.scale[-2:]), tuple(layer.translate[-2:]),
                  train_labels=self.data.painted_on(layer), gt=self.data.copy_gt(cube.shape[1:]),
                  gt_name=getattr(self.data.gt_picker.value, "name", None),
                  classifier=clf, bands=plan, source_layers=(layer.name,),
                  device=self.settings.device.currentText(), tta=self.settings.tta.isChecked())
        job.pbar = DockProgress(self.bar)
        self.status.setText(f"Applying the model to '{layer.name}'…")
        return self.runner.start(job, predict, returned=self._on_outcome)

    def plan(self, layer: Image, clf: Classifier) -> BandPlan | None:
        """How ``layer``'s bands become ``clf``'s (from its wavelengths and bad-band flags in the
        layer metadata); None, said in the dock, when they cannot. A resampling plan's warning
        is shown."""
        md = layer.metadata
        try:
            plan = clf.plan(int(layer.data.shape[0]), md.get("wavelengths"),
                            md.get("wavelength_units"), flags=md.get("bad_bands"),
                            data=layer.data)
        except BandMismatchError as exc:
            show_error(f"Band mismatch: cannot apply the model to '{layer.name}': {exc}")
            self.status.setText(f"Not applied to '{layer.name}': its bands do not fit the "
                                "model (see the message above).")
            return None
        if plan.warning:
            show_warning(f"'{layer.name}': {plan.warning}")
        return plan

    def map_trained(self, layer: Image, clf: Classifier, trained: Job, done: str
                    ) -> LazyJob | None:
        """The map of the lazy ``layer`` that ``clf`` was just trained on (by ``trained``),
        tile by tile as Apply makes it; its status line starts with ``done``."""
        plan = self.plan(layer, clf)
        return None if plan is None else self._apply_lazy(layer, clf, plan, done, trained)

    def _apply_lazy(self, layer: Image, clf: Classifier, plan: BandPlan,
                    done: str = "Model applied", trained: Job | None = None) -> LazyJob | None:
        """Tiled prediction of a lazy cube in the background; the class map is made now, all 0,
        and filled in tile by tile as the tiles finish."""
        try:
            job = _lazy_apply.make_job(self.viewer, layer, clf, bands=plan,
                                       device=self.settings.device.currentText(),
                                       options=self.lazy_options,
                                       gt=self.data.copy_gt(layer.data.shape[1:]),
                                       train_labels=self.data.painted_on(layer),
                                       tta=self.settings.tta.isChecked(),
                                       gt_name=getattr(self.data.gt_picker.value, "name", None))
        except (ImportError, ValueError) as exc:
            show_error(f"Cannot apply the model to '{layer.name}': {exc}")
            self.status.setText(f"{done}; not mapped: {exc}" if trained is not None else
                                f"Cannot apply the model to '{layer.name}': {exc}")
            return None
        job.headline, job.trained = done, trained
        job.pbar = DockProgress(self.bar, job.blocks, "predicting tiles")
        after = "" if clf.layer_statistics is not None else ", after the scene statistics"
        self.status.setText(f"{done}; mapping '{layer.name}' tile by tile ({job.blocks} tiles"
                            f"{after})…" if trained is not None else
                            f"Applying the model to '{layer.name}' tile by tile "
                            f"({job.blocks} tiles{after})…")
        return self.runner.start(job, _lazy_apply.predict_blocks, yielded=self._on_lazy_event,
                                 returned=self._on_lazy_outcome)

    def _on_outcome(self, job: Job, outcome: Outcome) -> None:
        if outcome.error is not None:
            show_error(f"Prediction failed: {outcome.error}")
            self.status.setText(f"Prediction failed: {outcome.error}")
            return
        self.classifier = outcome.classifier
        self.status.setText(self.results.show_map(job, outcome.prediction, outcome.classifier,
                                                  "Model applied"))

    def _on_lazy_event(self, job: LazyJob, event) -> None:
        self.status.setText(_lazy_apply.on_event(job, event))
        _lazy_apply.show_progress(job)  # last, as in training: it may handle the result

    def _on_lazy_outcome(self, job: LazyJob, outcome: Outcome) -> None:
        error = _lazy_apply.finish(self.viewer, job, outcome)
        name = f"'{job.cube_name} prediction'"
        if error is not None:
            show_error(f"Prediction failed: {error}")
            self.status.setText(f"Prediction failed: {error}")
        elif job.stopping:
            self.status.setText(f"Stopped: {job.blocks_done} of {job.blocks} tiles of {name} "
                                "done" + ("; the rest is 0 (unlabelled)." if job.blocks_done
                                          else f"; {name} is as it was before."))
        else:  # the whole map: its uncertainty too, so Suggest labels works on it
            show_uncertainty(self.viewer, job, job.uncertainty)
            self.results.last_output = (job, Prediction(job.output, None, job.uncertainty, None,
                                                        job.classifier.class_values))
            self.status.setText(self.results.score(job, job.output, job.classifier,
                                                   job.headline))
            if job.trained is not None:
                record_scores(job.classifier, self.results.metrics)

    def _save_dialog(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Save model into folder")
        if path:
            self.save_model(path)

    def _load_dialog(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Load model from folder")
        if path:
            self.load_model(path)
