"""Live training curve: loss (left axis), and on the right axis the OA on the held-out painted
pixels (validation: what chooses the kept model) and on the ground truth (test: reported only)."""

from __future__ import annotations

from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure
from qtpy.QtCore import QTimer

_FG = "#d0d0d0"


class LossPlot(FigureCanvasQTAgg):
    """A small matplotlib canvas fed with TrainEvents.

    Events can arrive faster than matplotlib draws (tiny models train hundreds of iterations
    a second), so points are stored at once and the canvas redraws at most every ``REDRAW_MS``.
    """

    REDRAW_MS = 250

    def __init__(self, parent=None):
        fig = Figure(figsize=(4, 2.2), dpi=80, facecolor="none", layout="constrained")
        super().__init__(fig)
        self.setParent(parent)
        self.setMinimumHeight(150)
        self._redraw = QTimer(self)
        self._redraw.setSingleShot(True)
        self._redraw.setInterval(self.REDRAW_MS)
        self._redraw.timeout.connect(self._update_lines)
        self.ax = fig.add_subplot(111)
        self.ax_val = self.ax.twinx()
        self.reset()

    def reset(self) -> None:
        self._redraw.stop()
        self.iters: list[int] = []
        self.losses: list[float] = []
        self.val_iters: list[int] = []
        self.val_oa: list[float] = []
        self.test_iters: list[int] = []
        self.test_oa: list[float] = []
        for ax in (self.ax, self.ax_val):
            ax.clear()
            ax.set_facecolor("none")
            ax.tick_params(colors=_FG, labelsize=8)
            for spine in ax.spines.values():
                spine.set_color(_FG)
        self.ax.set_xlabel("iteration", color=_FG, fontsize=8)
        self.ax.set_ylabel("loss", color="#4ea8de", fontsize=8)
        self.ax_val.yaxis.tick_right()  # clear() sends a twin axis back to the left
        self.ax_val.yaxis.set_label_position("right")
        self.ax_val.set_ylabel("OA: validation · test", color="#f4a261", fontsize=8)
        self.ax_val.set_ylim(0, 1)
        (self._loss_line,) = self.ax.plot([], [], color="#4ea8de", lw=1.2)
        (self._val_line,) = self.ax_val.plot([], [], color="#f4a261", lw=1.2, marker="o", ms=3,
                                             label="validation (held-out painted)")
        (self._test_line,) = self.ax_val.plot([], [], color="#90be6d", lw=1.2, marker="s", ms=3,
                                              ls="--", label="test (ground truth)")
        # before the first point: an empty, labelled frame (matplotlib's default for no data
        # is ±0.055 on both axes, which reads as a plot of negative losses); auto=True lets
        # the first points rescale it
        self.ax.set_xlim(0, 1, auto=True)  # after plot(): it autoscales
        self.ax.set_ylim(0, 1, auto=True)
        self._legend = None
        self.draw_idle()

    def add(self, event) -> None:
        """Append one TrainEvent (``iteration``, ``loss``, ``validation``, ``test``)."""
        self.iters.append(int(event.iteration))
        self.losses.append(float(event.loss))
        validation = getattr(event, "validation", None)
        if validation and validation.get("oa") is not None:
            self.val_iters.append(int(event.iteration))
            self.val_oa.append(float(validation["oa"]))
        test = getattr(event, "test", None)
        if test and test.get("oa") is not None:
            self.test_iters.append(int(event.iteration))
            self.test_oa.append(float(test["oa"]))
        if not self._redraw.isActive():
            self._redraw.start()

    def flush(self) -> None:
        """Draw now (end of training)."""
        self._redraw.stop()
        self._update_lines()

    def _update_lines(self) -> None:
        self._loss_line.set_data(self.iters, self.losses)
        self._val_line.set_data(self.val_iters, self.val_oa)
        self._test_line.set_data(self.test_iters, self.test_oa)
        if self._legend is None and (self.val_oa or self.test_oa):
            self._legend = self.ax_val.legend(loc="lower right", fontsize=7, framealpha=0.3)
        if self.iters:  # with no points, autoscaling would bring back the ±0.055 frame
            self.ax.relim()
            self.ax.autoscale_view()
        self.draw_idle()
