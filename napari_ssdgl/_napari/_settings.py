"""The "Settings" box (foldable when it shares a page); its defaults are the engine's (the
paper's) defaults."""

from __future__ import annotations

from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from napari_ssdgl.models import PRESETS
from napari_ssdgl.training.trainer import TrainConfig

MODELS = {"SSDGL": "ssdgl", "FreeNet": "freenet"}
DEVICES = ["auto", "cpu", "cuda", "mps"]
# previews by wall clock, not iteration count: an SSDGL iteration on Indian Pines takes about a
# second on a laptop CPU and far less on a GPU, and the user should see a map within seconds
PREVIEW_SECONDS = 10.0
FIRST_PREVIEW_SECONDS = 4.0
# a Refine round: +5 px per class after 100 iterations on 10 px per class (Indian Pines, CPU,
# selection seeds 10 and 11): 15 iterations at lr 0.003 moved OA by -8.4 and +4.1 points, at
# 0.001 by +5.1 and +2.2, 30 at 0.001 by +5.8 and +4.4 (benchmarks/README.md, issue 18)
REFINE_ITERATIONS = 20
REFINE_LR = 0.001


def _spin(lo: int, hi: int, value: int, tip: str) -> QSpinBox:
    w = QSpinBox()
    w.setRange(lo, hi)
    w.setValue(int(value))
    w.setToolTip(tip)
    return w


class SettingsBox(QGroupBox):
    """Model, iterations, learning rate, per-class draw, augmentation, test-time augmentation,
    ensemble members, training window, seed, device, previews.

    ``foldable``: a check box in the title unfolds it (it starts folded); the dock's Train tab
    holds it open, as that tab's content. ``config(**overrides)`` builds the ``TrainConfig``;
    overrides (e.g. tiny ``model_kwargs`` in tests) win over the widgets.
    """

    def __init__(self, parent=None, foldable: bool = True, title: str = "Advanced settings"):
        super().__init__(title, parent)
        d = TrainConfig()
        self.setCheckable(foldable)
        self.setChecked(False)
        self._body = QWidget()
        form = QFormLayout(self._body)
        form.setContentsMargins(0, 0, 0, 0)
        self.model = QComboBox()
        self.model.addItems(list(MODELS))
        self.preset = QComboBox()
        self.preset.addItem("model defaults", None)
        for name in PRESETS:
            self.preset.addItem(name, name)
        self.preset.setCurrentIndex(max(0, self.preset.findData(d.preset)))
        self.preset.setToolTip("Layer widths from the paper's per-dataset settings")
        self.iterations = _spin(1, 100_000, d.iterations, "Training iterations (SGD steps)")
        self.lr = QDoubleSpinBox()
        self.lr.setDecimals(5)
        self.lr.setRange(1e-5, 1.0)
        self.lr.setSingleStep(0.001)
        self.lr.setValue(d.lr)
        self.lr.setToolTip("Initial learning rate (polynomial decay)")
        self.per_class = _spin(0, 100_000, d.per_class or 0,
                               "Pixels drawn per class and iteration (H-B sampling); 0 = all")
        self.augment = QCheckBox()
        self.augment.setChecked(d.augment)
        self.augment.setToolTip("Train on randomly flipped/transposed copies of the scene; may "
                                "help with very few labels, slows convergence otherwise")
        self.tta = QCheckBox()
        self.tta.setToolTip("Predict the final class map as the mean over the 8 flips/transposes "
                            "of the cube (8x the prediction time); for a model trained with flip "
                            "augmentation")
        self.members = _spin(1, 16, 1, "Train this many networks from different random starts "
                             "side by side and predict their mean probability: steadier "
                             "accuracy for about N times the training and prediction work")
        self.window = _spin(0, 8192, d.window or 0,
                            "A scene larger than this (px) trains on windows of this size, read "
                            "one at a time, so an iteration costs the same whatever the scene's "
                            "size; 0 = always the whole scene (in memory; its iterations cost "
                            "more as the scene grows). Smaller windows lose accuracy "
                            "(benchmarks/README.md)")
        self.window.setSuffix(" px")
        self.window.setSpecialValueText("whole scene")  # 0: never in windows
        self.windows_per_batch = _spin(
            0, 64, d.windows_per_batch or 0,
            "Windows per iteration when training in windows: more see more classes per step, "
            "at a proportional cost (Indian Pines in 64 px windows: OA 78 % with 1, 95 % with "
            "4). auto: one, or for sparse labels (a window holds under half the classes) 3 "
            "windows of about 0.6 times the side, at about the same cost")
        self.windows_per_batch.setSpecialValueText("auto")  # 0: chosen from the labels
        self.seed = _spin(0, 2**31 - 1, d.seed, "Random seed: same seed, same result")
        self.device = QComboBox()
        self.device.addItems(DEVICES)
        self.preview_seconds = QDoubleSpinBox()
        self.preview_seconds.setRange(0.0, 3600.0)
        self.preview_seconds.setDecimals(1)
        self.preview_seconds.setSuffix(" s")
        self.preview_seconds.setValue(PREVIEW_SECONDS)
        self.preview_seconds.setToolTip(
            "Refresh the class-map preview this often while training (0 = never); the first "
            f"comes after at most {FIRST_PREVIEW_SECONDS:g} s, however slow an iteration is")
        self.eval_every = _spin(0, 100_000, d.eval_every,
                                "Score the held-out painted pixels (they choose the kept model) "
                                "and the ground-truth layer every N iterations (0 = at end)")
        self.refine_iterations = _spin(1, 100_000, REFINE_ITERATIONS, "Iterations of a Refine "
                                       "round (it continues from the current model)")
        self.refine_lr = QDoubleSpinBox()
        self.refine_lr.setDecimals(5)
        self.refine_lr.setRange(1e-5, 1.0)
        self.refine_lr.setSingleStep(0.0005)
        self.refine_lr.setValue(REFINE_LR)
        self.refine_lr.setToolTip("Initial learning rate of a Refine round: lower than a fresh "
                                  "start's, so a few new labels adjust the model without "
                                  "throwing away what it learnt")
        for label, w in [("Model", self.model), ("Preset", self.preset),
                         ("Iterations", self.iterations), ("Learning rate", self.lr),
                         ("Per-class draw", self.per_class), ("Flip augmentation", self.augment),
                         ("Predict over flips", self.tta), ("Ensemble members", self.members),
                         ("Training window", self.window),
                         ("Windows per iteration", self.windows_per_batch), ("Seed", self.seed),
                         ("Device", self.device), ("Preview every", self.preview_seconds),
                         ("Validate every", self.eval_every),
                         ("Refine iterations", self.refine_iterations),
                         ("Refine learning rate", self.refine_lr)]:
            form.addRow(label, w)
        layout = QVBoxLayout(self)
        layout.addWidget(self._body)
        self._body.setVisible(not foldable)
        self.toggled.connect(self._body.setVisible)

    def config(self, **overrides) -> TrainConfig:
        """The TrainConfig these widgets describe, with ``overrides`` applied last."""
        kwargs = dict(
            model=MODELS[self.model.currentText()],
            preset=self.preset.currentData(),
            iterations=self.iterations.value(),
            lr=self.lr.value(),
            per_class=self.per_class.value() or None,
            augment=self.augment.isChecked(),
            window=self.window.value() or None,
            windows_per_batch=self.windows_per_batch.value() or None,
            seed=self.seed.value(),
            device=self.device.currentText(),
            preview_every=0,  # previews come on a clock (TrainingBox asks the trainer)
            eval_every=self.eval_every.value(),
        )
        kwargs.update(overrides)
        if self.members.value() > 1:  # added to any model_kwargs override
            kwargs["model_kwargs"] = {**kwargs.get("model_kwargs", {}),
                                      "members": self.members.value()}
        return TrainConfig(**kwargs)
