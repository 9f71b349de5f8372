"""The "Spectral profile" dock: the spectrum under the cursor, pinned spectra and class means.

Hover with Shift held shows the live spectrum; Shift+click (or the Pin button) keeps it. A
Labels layer adds each class's mean ± std spectrum in its label colour, recomputed (throttled)
when the labels are painted or replaced. Only ``cube.data[:, row, col]`` is read per hover and
the live curve is blitted over a cached plot, so a hover costs about one line draw however many
bands or curves there are. Layers removed while the dock is open simply drop out of the plot.
The cube's suspect bands (the SSDGL dock's "Detect bad bands", kept on the layer by
``_suspect``) are shaded, their reasons in the plot's tooltip.
"""

from __future__ import annotations

import time
from functools import partial

import numpy as np
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure
from napari.layers import Image, Labels, Layer
from napari.viewer import Viewer
from qtpy.QtCore import QTimer
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from napari_ssdgl._napari import _suspect
from napari_ssdgl._napari._layers import class_colors, class_names, is_output
from napari_ssdgl.analysis.spectra import ClassSpectra, band_axis, class_spectra, spectrum_at

LIVE_INTERVAL_S = 0.015  # at most ~60 live redraws per second
CLASS_DELAY_MS = 250  # class means refresh at most 4 times per second while painting
MAX_PINS = 10
HINT = "Hold Shift over the image to see spectra; Shift+click pins one."
LEGEND_CLASSES = 24  # more classes than this get no legend entries
LEGEND_COLUMNS_OVER = 8  # more entries than this: a two-column legend in a smaller font
_FG = "#d0d0d0"
_SUSPECT = "#ff6b6b"
_PINS = ["#ffd166", "#06d6a0", "#ef476f", "#118ab2", "#f78c6b", "#83c5be", "#c77dff",
         "#e9c46a", "#90be6d", "#f94144"]  # fmt: skip


def _is_cube(layer: Layer) -> bool:
    return isinstance(layer, Image) and layer.ndim == 3 and not layer.rgb and not is_output(layer)


class SpectrumCanvas(FigureCanvasQTAgg):
    """Spectrum plot whose live curve is ``animated`` and blitted over a cached background."""

    def __init__(self, parent=None):
        fig = Figure(figsize=(4, 2.6), dpi=80, facecolor="none", layout="constrained")
        super().__init__(fig)
        self.setParent(parent)
        self.setMinimumHeight(180)
        self.ax = fig.add_subplot(111)
        self._bg = None
        self.mpl_connect("draw_event", self._on_draw)
        self.mpl_connect("motion_notify_event", self._on_motion)
        self.reset(np.zeros(0), "band")

    def reset(self, x: np.ndarray, xlabel: str) -> None:
        """Empty plot over a new x axis (a new cube)."""
        ax = self.ax
        ax.clear()
        ax.set_facecolor("none")
        ax.tick_params(colors=_FG, labelsize=8)
        for spine in ax.spines.values():
            spine.set_color(_FG)
        ax.set_xlabel(xlabel, color=_FG, fontsize=8)
        ax.set_ylabel("value", color=_FG, fontsize=8)
        self.x = np.asarray(x, dtype=float)
        if self.x.size > 1:
            ax.set_xlim(float(self.x.min()), float(self.x.max()))
        (self.live,) = ax.plot([], [], color="#ffffff", lw=1.4, animated=True)
        self.live_text = ax.text(0.01, 0.98, "", transform=ax.transAxes, va="top", fontsize=7,
                                 color=_FG, animated=True)  # fmt: skip
        self.pins: list = []
        self.class_lines: list = []
        self._class_fills: list = []
        self.suspect: dict[int, str] = {}
        self.suspect_spans: list = []
        self._fitted = False
        self._bg = None
        self.draw_idle()

    def set_live(self, y: np.ndarray | None, label: str = "") -> None:
        """Show ``y`` as the live curve: a blit, or a full redraw when the y range must grow."""
        self.live_text.set_text(label)
        if y is None:
            self.live.set_data([], [])
        else:
            self.live.set_data(self.x, y)
            if self._grow_ylim(y):
                self._bg = None  # stale until the full draw re-caches it
        if self._bg is None:
            self.draw_idle()
            return
        self.restore_region(self._bg)
        self._draw_live()
        self.blit(self.ax.bbox)

    def add_pin(self, y: np.ndarray, label: str) -> None:
        colour = _PINS[len(self.pins) % len(_PINS)]
        (line,) = self.ax.plot(self.x, y, color=colour, lw=1.1, ls="--", label=label)
        self.pins.append(line)
        if len(self.pins) > MAX_PINS:
            self.pins.pop(0).remove()
        self._redraw()

    def clear_pins(self) -> None:
        for line in self.pins:
            line.remove()
        self.pins = []
        self._redraw()

    def set_classes(
        self, stats: ClassSpectra | None, colors: dict, names: dict, show_std: bool = True
    ) -> None:
        """Replace the class-mean curves (mean line, ± std band) by those of ``stats``."""
        for artist in self.class_lines + self._class_fills:
            artist.remove()
        self.class_lines, self._class_fills = [], []
        for i, value in enumerate([] if stats is None else stats.values):
            v, m, s = int(value), stats.mean[i], stats.std[i]
            label = f"{names.get(v, f'class {v}')} (n={int(stats.count[i])})"
            (line,) = self.ax.plot(self.x, m, color=colors[v], lw=1.8, label=label)
            self.class_lines.append(line)
            if show_std:
                fill = self.ax.fill_between(self.x, m - s, m + s, color=colors[v], alpha=0.18,
                                            lw=0)  # fmt: skip
                self._class_fills.append(fill)
        self._redraw()

    def set_suspect(self, reasons: dict[int, str]) -> None:
        """Shade the bands in ``reasons`` (band -> why), one span per run of neighbours."""
        for span in self.suspect_spans:
            span.remove()
        self.suspect, self.suspect_spans = dict(reasons), []
        x = self.x
        if x.size and reasons:
            step = np.diff(x) if x.size > 1 else np.ones(1)
            edges = np.concatenate([[x[0] - step[0] / 2], x[:-1] + step / 2,
                                    [x[-1] + step[-1] / 2]])
            for a, b in _runs(sorted(b for b in reasons if 0 <= b < x.size)):
                lo, hi = sorted((float(edges[a]), float(edges[b + 1])))
                self.suspect_spans.append(self.ax.axvspan(lo, hi, color=_SUSPECT, alpha=0.22,
                                                          lw=0, zorder=0))
        self._bg = None
        self.draw_idle()

    def suspect_at(self, xdata: float | None) -> str:
        """'band 104 (1402 nm): water absorption ...' for the band nearest ``xdata``, if it is
        suspect; else ''."""
        if xdata is None or not self.suspect or not self.x.size:
            return ""
        b = int(np.argmin(np.abs(self.x - xdata)))
        if b not in self.suspect:
            return ""
        at = "" if np.array_equal(self.x, np.arange(self.x.size)) else f" ({self.x[b]:g})"
        return f"band {b}{at}: {self.suspect[b]}"

    def _on_motion(self, event) -> None:
        text = self.suspect_at(event.xdata if event.inaxes is self.ax else None)
        if text != self.toolTip():
            self.setToolTip(text)

    def _redraw(self) -> None:
        """Refit y to everything shown, rebuild the legend, schedule a full draw."""
        ys = [line.get_ydata() for line in self.pins + self.class_lines]
        ys += [np.asarray(p.get_paths()[0].vertices[:, 1]) for p in self._class_fills
               if p.get_paths()]  # fmt: skip
        if len(self.live.get_xdata()):
            ys.append(self.live.get_ydata())
        self._fitted = False
        if ys:
            self._grow_ylim(np.concatenate([np.asarray(y, dtype=float).ravel() for y in ys]))
        # the legend is drawn on full redraws only (the live curve is blitted over it)
        handles = (self.class_lines if len(self.class_lines) <= LEGEND_CLASSES else []) + self.pins
        if handles:
            many = len(handles) > LEGEND_COLUMNS_OVER
            self.ax.legend(handles=handles, fontsize=5.5 if many else 7, loc="best",
                           ncol=2 if many else 1, framealpha=0.3, labelcolor=_FG,
                           facecolor="none", handlelength=1.0)  # fmt: skip
        elif self.ax.get_legend() is not None:
            self.ax.get_legend().remove()
        self._bg = None
        self.draw_idle()

    def _grow_ylim(self, y: np.ndarray) -> bool:
        """Widen the y range (never shrink it while hovering) to show ``y``; True if changed."""
        y = np.asarray(y, dtype=float)
        y = y[np.isfinite(y)]
        if y.size == 0:
            return False
        ymin, ymax = float(y.min()), float(y.max())
        if self._fitted:
            lo, hi = self.ax.get_ylim()
            if lo <= ymin and ymax <= hi:
                return False
            ymin, ymax = min(lo, ymin), max(hi, ymax)
        pad = 0.05 * (ymax - ymin) or max(abs(ymax), 1.0) * 0.05
        self.ax.set_ylim(ymin - pad, ymax + pad)
        self._fitted = True
        return True

    def _on_draw(self, _event) -> None:
        self._bg = self.copy_from_bbox(self.figure.bbox)
        self._draw_live()

    def _draw_live(self) -> None:
        self.ax.draw_artist(self.live)
        self.ax.draw_artist(self.live_text)


def _runs(indices: list[int]) -> list[tuple[int, int]]:
    """[0, 1, 2, 5] -> [(0, 2), (5, 5)]."""
    runs: list[tuple[int, int]] = []
    for b in indices:
        if runs and runs[-1][1] == b - 1:
            runs[-1] = (runs[-1][0], b)
        else:
            runs.append((b, b))
    return runs


def _detach(viewer: Viewer, move_cb, press_cb, suspect_cb, *_) -> None:
    """Unhook the viewer callbacks when the dock's Qt object is destroyed."""
    _suspect.notices.changed.disconnect(suspect_cb)
    for callbacks, cb in ((viewer.mouse_move_callbacks, move_cb),
                          (viewer.mouse_drag_callbacks, press_cb)):  # fmt: skip
        if cb in callbacks:
            callbacks.remove(cb)


class SpectralProfileWidget(QWidget):
    """Dock widget: pick the cube and (optionally) a Labels layer for class means."""

    def __init__(self, napari_viewer: Viewer):
        super().__init__()
        self.viewer = napari_viewer
        self.cube: Image | None = None
        self.labels: Labels | None = None
        self.class_stats: ClassSpectra | None = None
        self.live_pixel: tuple[int, int] | None = None
        self.pinned: list[tuple[int, int]] = []
        self._pending: tuple[int, int] | None = None
        self._last_live = -np.inf
        self._labels_seen: np.ndarray | None = None
        self._build()
        self._live_timer, self._class_timer = QTimer(self), QTimer(self)
        for timer, slot in ((self._live_timer, self._flush_live),
                            (self._class_timer, lambda: self.update_class_means())):  # fmt: skip
            timer.setSingleShot(True)
            timer.timeout.connect(slot)
        self._class_timer.setInterval(CLASS_DELAY_MS)
        layers = napari_viewer.layers
        for emitter in (layers.events.inserted, layers.events.removed, layers.events.reordered):
            emitter.connect(self._refresh_choices)
        napari_viewer.mouse_move_callbacks.append(self._on_mouse_move)
        napari_viewer.mouse_drag_callbacks.append(self._on_mouse_press)
        _suspect.notices.changed.connect(self._on_suspect)
        self.destroyed.connect(
            partial(_detach, napari_viewer, self._on_mouse_move, self._on_mouse_press,
                    self._on_suspect)
        )
        self._refresh_choices()

    def _build(self) -> None:
        self.cube_combo, self.labels_combo = QComboBox(), QComboBox()
        self.cube_combo.setToolTip("Bands-first cube whose spectra are plotted")
        self.labels_combo.setToolTip("Labels layer whose class mean ± std spectra are plotted")
        self.cube_combo.currentIndexChanged.connect(
            lambda *_: self.set_cube(self.cube_combo.currentData()))
        self.labels_combo.currentIndexChanged.connect(
            lambda *_: self.set_labels(self.labels_combo.currentData()))
        self.std_box = QCheckBox("± std")
        self.std_box.setChecked(True)
        self.std_box.toggled.connect(lambda *_: self.update_class_means(force=True))
        pin, clear = QPushButton("Pin"), QPushButton("Clear pins")
        pin.setToolTip("Keep the spectrum last shown (same as Shift+click on the image)")
        pin.clicked.connect(lambda *_: self.pin())
        clear.clicked.connect(lambda *_: self.clear_pins())
        self.canvas = SpectrumCanvas(self)
        self.status = QLabel(HINT)
        self.status.setWordWrap(True)
        form = QFormLayout()
        form.addRow("cube", self.cube_combo)
        form.addRow("class means", self.labels_combo)
        row = QHBoxLayout()
        for w in (self.std_box, pin, clear):
            row.addWidget(w)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(row)
        layout.addWidget(self.canvas, stretch=1)
        layout.addWidget(self.status)

    # ---- layer choice -------------------------------------------------------------------
    def _refresh_choices(self, *_) -> None:
        """Refill both pickers, keeping the current layers while they exist."""
        cubes = [ly for ly in self.viewer.layers if _is_cube(ly)]
        labels = [ly for ly in self.viewer.layers if isinstance(ly, Labels) and ly.ndim == 2]
        cube = next((ly for ly in cubes if ly is self.cube), cubes[0] if cubes else None)
        lab = next((ly for ly in labels if ly is self.labels), None)
        for combo, items, current in ((self.cube_combo, cubes, cube),
                                      (self.labels_combo, [None, *labels], lab)):  # fmt: skip
            combo.blockSignals(True)
            combo.clear()
            for ly in items:
                combo.addItem("none" if ly is None else ly.name, ly)
            combo.setCurrentIndex(next((i for i, ly in enumerate(items) if ly is current), -1))
            combo.blockSignals(False)
        self.set_cube(cube)
        self.set_labels(lab)

    def set_cube(self, layer: Image | None) -> None:
        if layer is self.cube:
            return
        if self.cube is not None:
            self.cube.events.data.disconnect(self._on_cube_data)
        self.cube = layer
        if layer is not None:
            layer.events.data.connect(self._on_cube_data)
        self._on_cube_data()

    def _on_cube_data(self, *_) -> None:
        """New cube (or new data in it): new x axis, drop live and pinned curves."""
        self.live_pixel, self._pending, self.pinned = None, None, []
        self._labels_seen = None
        if self.cube is None:
            self.canvas.reset(np.zeros(0), "band")
        else:
            md = self.cube.metadata
            self.canvas.reset(*band_axis(self.cube.data.shape[0], md.get("wavelengths"),
                                         md.get("wavelength_units")))  # fmt: skip
            self._on_suspect(self.cube)
        self.update_class_means(force=True)

    def _on_suspect(self, layer) -> None:
        """Shade the cube's suspect bands (when ``layer`` is the cube) and say why."""
        if layer is not self.cube or layer is None:
            return
        self.canvas.set_suspect(_suspect.reasons(layer))
        found = _suspect.stored(layer)
        if found is not None:
            self.status.setText(f"Shaded: {found['summary']}")
        elif self.status.text().startswith("Shaded:"):  # another cube's
            self.status.setText(HINT)

    def set_labels(self, layer: Labels | None) -> None:
        if layer is self.labels:
            return
        if self.labels is not None:
            for name in ("paint", "data", "set_data", "colormap"):
                getattr(self.labels.events, name).disconnect(self._schedule_classes)
        self.labels = layer
        if layer is not None:
            for name in ("paint", "data", "set_data", "colormap"):
                getattr(layer.events, name).connect(self._schedule_classes)
        self.update_class_means(force=True)

    # ---- class means --------------------------------------------------------------------
    def _schedule_classes(self, event=None) -> None:
        if event is not None and getattr(event, "type", "") == "colormap":
            self._labels_seen = None  # same labels, new colours: redraw anyway
        if not self._class_timer.isActive():
            self._class_timer.start()

    def update_class_means(self, force: bool = False) -> None:
        """Recompute the class curves now (skipped when the labels did not change)."""
        cube, labels = self.cube, self.labels
        if cube is None or labels is None:
            self._labels_seen, self.class_stats = None, None
            self.canvas.set_classes(None, {}, {})
            return
        lab = np.asarray(labels.data)
        if not force and self._labels_seen is not None and np.array_equal(lab, self._labels_seen):
            return
        self._labels_seen = lab.copy()
        try:
            self.class_stats = class_spectra(cube.data, lab)
        except ValueError as exc:
            self.class_stats = None
            self.status.setText(f"No class means: {labels.name}: {exc}")
        stats = self.class_stats
        values = [] if stats is None else stats.values
        self.canvas.set_classes(stats, class_colors(labels, values), class_names(labels),
                                self.std_box.isChecked())  # fmt: skip

    # ---- mouse --------------------------------------------------------------------------
    def pixel_at(self, position) -> tuple[int, int] | None:
        """(row, col) of the cube pixel at a world position, None outside the cube."""
        if self.cube is None or position is None:
            return None
        coords = self.cube.world_to_data(position)
        row, col = (int(np.round(v)) for v in coords[-2:])
        rows, cols = self.cube.data.shape[-2:]
        return (row, col) if 0 <= row < rows and 0 <= col < cols else None

    def _on_mouse_move(self, _viewer, event) -> None:
        if "Shift" not in event.modifiers or self.cube is None:
            return
        pixel = self.pixel_at(event.position)
        if pixel is None or (pixel == self.live_pixel and self._pending is None):
            return
        self._pending = pixel
        if not self._live_timer.isActive():
            wait = LIVE_INTERVAL_S - (time.perf_counter() - self._last_live)
            if wait <= 0:
                self._flush_live()
            else:
                self._live_timer.start(int(wait * 1000) + 1)

    def _flush_live(self) -> None:
        pixel, self._pending = self._pending, None
        if pixel is None or self.cube is None:
            return
        self._last_live = time.perf_counter()
        self.live_pixel = pixel
        # the pixel is named in the plot (blitted): a QLabel update would repaint the dock
        self.canvas.set_live(spectrum_at(self.cube.data, *pixel), f"row {pixel[0]}, col {pixel[1]}")

    def _on_mouse_press(self, _viewer, event) -> None:
        if event.type == "mouse_press" and "Shift" in event.modifiers:
            pixel = self.pixel_at(event.position)
            if pixel is not None:
                self.pin(pixel)

    def pin(self, pixel: tuple[int, int] | None = None) -> bool:
        """Keep the spectrum at ``pixel`` (default: the last one shown, else the cursor's)."""
        if pixel is None:
            pixel = self.live_pixel or self.pixel_at(self.viewer.cursor.position)
        y = None if pixel is None or self.cube is None else spectrum_at(self.cube.data, *pixel)
        if y is None:
            self.status.setText("Nothing to pin: hold Shift over the cube first.")
            return False
        self.pinned = [*self.pinned, pixel][-MAX_PINS:]
        self.canvas.add_pin(y, f"({pixel[0]}, {pixel[1]})")
        return True

    def clear_pins(self) -> None:
        self.pinned = []
        self.canvas.clear_pins()
