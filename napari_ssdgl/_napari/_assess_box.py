"""The "Assess" section: a stratified reference sample of a class map, labelled in the viewer,
and its accuracy and class areas with confidence intervals (issue 20; the engine is
``analysis.sample_design``, ``analysis.accuracy_area`` and ``workflows.assess``).

**Propose sample** draws the points (map classes as strata, size from the target SE of OA at
the anticipated user's accuracies, one or per class, or a number; a minimum per class; none on
the training pixels) into a Points layer whose features
hold ``row, col, map_class, reference``. The user labels them: select a point and press 1-9
(as when painting; 0 clears), which moves on to the next unlabelled point; **Next point**
centres the view on it; **From layer** reads the references from a label raster (a ground
truth). **Compute** fills the table; **Export…** writes it as CSV, JSON or PNG; **Save
points…** / **Load points…** keep the labelling for later (saved as the CLI's proposal is:
``x,y`` map coordinates too when the map is georeferenced). Everything here is cheap numpy on
the main thread; errors are napari notifications and change nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from magicgui.widgets import ComboBox
from napari.layers import Labels, Layer, Points
from napari.utils.notifications import show_error, show_info, show_warning
from qtpy.QtWidgets import (
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from napari_ssdgl._napari._data_box import is_emit
from napari_ssdgl._napari._layers import ROLE, keep_active
from napari_ssdgl._napari._ui import button, row
from napari_ssdgl.analysis.sample_design import (
    DEFAULT_ANTICIPATED_UA,
    DEFAULT_MIN_PER_CLASS,
    describe_anticipated_ua,
    parse_anticipated_ua,
    propose_sample,
)
from napari_ssdgl.io.geo import pixel_area_ha
from napari_ssdgl.workflows.assess import (
    REPORT_SUFFIXES,
    Assessment,
    assess_points,
    geometry_from_tags,
    points_from_design,
    read_points,
    write_points,
    write_report,
)
from napari_ssdgl.workflows.assess import (
    Points as SamplePoints,
)
from napari_ssdgl.workflows.outputs import check_outputs

SAMPLE_ROLE = "reference sample"
COLUMNS = ("row", "col", "map_class", "reference")
UNLABELLED = "#ffffff"
HEADER = ("class", "points", "user's", "producer's", "area px", "area ha")


def _is_class_map(layer: Layer) -> bool:
    return (isinstance(layer, Labels) and layer.ndim == 2
            and layer.metadata.get(ROLE) not in ("errors",))


def _is_reference(layer: Layer) -> bool:
    return isinstance(layer, Labels) and layer.ndim == 2 and not layer.metadata.get(ROLE)


class AssessBox(QWidget):
    """Propose, label, compute, export (see the module docstring). ``training_labels``: the
    dock's current training-labels layer (its pixels get no point); ``cube``: the picked
    cube layer, whose georeferencing gives areas in ha when the map has none of its own."""

    def __init__(self, viewer, training_labels: Callable[[], Layer | None] = lambda: None,
                 cube: Callable[[], Layer | None] = lambda: None, parent=None):
        super().__init__(parent)
        self.viewer = viewer
        self._training_labels = training_labels
        self._cube = cube
        self.result: Assessment | None = None
        self.points_layer: Points | None = None
        self.map_picker = ComboBox(choices=self._map_choices)
        self.reference_picker = ComboBox(choices=lambda _: [
            (la.name, la) for la in viewer.layers if _is_reference(la)], nullable=True)
        self.size = QSpinBox()
        self.size.setRange(0, 1_000_000)
        self.size.setSpecialValueText("from target SE")
        self.size.setToolTip("Points to draw; 0: enough for the target SE of OA")
        self.target_se = QDoubleSpinBox()
        self.target_se.setRange(0.001, 0.2)
        self.target_se.setDecimals(3)
        self.target_se.setSingleStep(0.005)
        self.target_se.setValue(0.01)
        self.anticipated_ua = QLineEdit(f"{DEFAULT_ANTICIPATED_UA:g}")
        self.anticipated_ua.setToolTip(
            "User's accuracy you expect, for the size from the target SE: one for every class "
            f"(0.9) or per class (1:0.8,3:0.95; the others {DEFAULT_ANTICIPATED_UA:g})")
        self.min_per_class = QSpinBox()
        self.min_per_class.setRange(0, 10_000)
        self.min_per_class.setValue(DEFAULT_MIN_PER_CLASS)
        self.seed = QSpinBox()
        self.seed.setRange(0, 2**31 - 1)
        self.propose_button = button("Propose sample", self.propose,
                                     "Stratified random points on the class map")
        self.next_button = button("Next point", self.next_point,
                                  "Select and centre the next unlabelled point")
        self.from_layer_button = button("From layer", self.fill_from_layer,
                                        "Reference classes from the picked label raster")
        self.compute_button = button("Compute", self.compute,
                                     "Accuracy and areas with confidence intervals")
        self.export_button = button("Export…", self.export, "The table as CSV, JSON or PNG")
        self.save_button = button("Save points…", self.save_points, "The points as CSV")
        self.load_button = button("Load points…", self.load_points, "Points from a CSV")
        self.summary = QLabel("Propose a sample on a class map, label its points (select, "
                              "keys 1–9), then Compute.")
        self.summary.setWordWrap(True)
        self.table = QTableWidget(0, len(HEADER))
        self.table.setHorizontalHeaderLabels(HEADER)
        self.table.verticalHeader().setVisible(False)
        form = QFormLayout()
        form.addRow("Class map", self.map_picker.native)
        form.addRow("Points", self.size)
        form.addRow("Target SE of OA", self.target_se)
        form.addRow("Anticipated user's accuracy", self.anticipated_ua)
        form.addRow("Minimum per class", self.min_per_class)
        form.addRow("Seed", self.seed)
        form.addRow("Reference layer", self.reference_picker.native)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(form)
        for widgets in ((self.propose_button, self.next_button),
                        (self.from_layer_button, self.compute_button),
                        (self.save_button, self.load_button, self.export_button)):
            layout.addLayout(row(*widgets))
        layout.addWidget(self.summary)
        layout.addWidget(self.table)
        for ev in (viewer.layers.events.inserted, viewer.layers.events.removed):
            ev.connect(self.reset_choices)

    # -- pickers ---------------------------------------------------------------------------
    def _map_choices(self, _=None) -> list:
        layers = [la for la in self.viewer.layers if _is_class_map(la)]
        layers.sort(key=lambda la: la.metadata.get(ROLE) != "prediction")  # maps first
        return [(la.name, la) for la in layers]

    def reset_choices(self, *_) -> None:
        self.map_picker.reset_choices()
        self.reference_picker.reset_choices()

    def _map(self) -> Labels | None:
        layer = self.map_picker.value
        if layer is None:
            show_error("Pick a class map (a 2-D labels layer, e.g. the prediction) to assess.")
        return layer

    def _exclude(self, shape) -> np.ndarray | None:
        layer = self._training_labels()
        if layer is None or np.shape(layer.data) != tuple(shape):
            return None
        return np.asarray(layer.data) > 0

    def _geo(self, map_layer: Labels) -> dict | None:
        """The map's georeferencing (GeoTIFF tags): its own (a GeoTIFF or ENVI class map),
        else the picked cube's when the map is on its grid (a prediction)."""
        geo = map_layer.metadata.get("geo")
        cube = self._cube()
        if not geo and cube is not None and np.shape(cube.data)[-2:] == np.shape(map_layer.data):
            geo = cube.metadata.get("geo")
        return geo

    def _pixel_area(self, map_layer: Labels) -> tuple[float | None, str | None]:
        """(ha per pixel, note) from :meth:`_geo`: the same ``io.geo.pixel_area_ha`` as the
        CLI. A map on an EMIT swath (no grid) says where the grid is to be had."""
        ha, note = pixel_area_ha(self._geo(map_layer), np.shape(map_layer.data)[0])
        cube = self._cube()
        if (ha is None and note is None and cube is not None and is_emit(cube)
                and np.shape(cube.data)[-2:] == np.shape(map_layer.data)):
            note = ("areas in pixels only: the cube is an EMIT swath, which has no map grid; "
                    "tick 'Orthorectified (EMIT map grid)' under Data and predict again for "
                    "areas in ha")
        return ha, note

    def _sample_map(self) -> Labels | None:
        """The class map the points layer was drawn on (None once it is removed)."""
        name = self.points_layer.metadata.get("map_layer")
        return self.viewer.layers[name] if name in self.viewer.layers else None

    # -- propose and label -----------------------------------------------------------------
    def propose(self) -> Points | None:
        """Draw a stratified sample of the picked map into the points layer."""
        layer = self._map()
        if layer is None:
            return None
        cmap = np.asarray(layer.data)
        total = self.size.value() or None
        try:
            ua = parse_anticipated_ua(self.anticipated_ua.text())
            design = propose_sample(cmap, total=total,
                                    target_se=None if total else self.target_se.value(),
                                    min_per_class=self.min_per_class.value(),
                                    anticipated_ua=ua, exclude=self._exclude(cmap.shape),
                                    seed=self.seed.value())
        except ValueError as exc:
            show_error(f"Cannot propose a sample: {exc}")
            return None
        points = self._show_points(layer, points_from_design(design))
        if points is None:
            return None
        notes = " ".join(f"{n[0].upper()}{n[1:]}." for n in design.notes)
        self.summary.setText(f"{design.size} points on '{layer.name}' (expected SE of OA "
                             f"{design.expected_se:.3f} at user's accuracy "
                             f"{describe_anticipated_ua(ua)}). {notes} Select a point and press "
                             "its class key (1–9); 0 clears.")
        return points

    def _show_points(self, map_layer: Labels, pts: SamplePoints) -> Points | None:
        """The points as the map's sample layer; refused (None) where that layer already holds
        labelled points, so no labelling is lost."""
        name = f"{map_layer.name} reference sample"
        old = self.viewer.layers[name] if name in self.viewer.layers else None
        done = 0 if old is None or "reference" not in getattr(old, "features", {}) else int(
            (old.features["reference"] > 0).sum())
        if done:
            show_warning(f"'{name}' holds {done} labelled points: save them (Save points…) "
                         "and rename or delete that layer before drawing a new sample.")
            return None
        features = pd.DataFrame({c: np.asarray(v, np.int64) for c, v in zip(
            COLUMNS, (pts.rows, pts.cols, pts.map_class, pts.reference), strict=True)})
        coords = np.stack([pts.rows, pts.cols], axis=1).astype(float)
        size = max(2.0, min(map_layer.data.shape) / 50)
        if name in self.viewer.layers:
            self.viewer.layers.remove(name)
        with keep_active(self.viewer):
            layer = self.viewer.add_points(
                coords, name=name, features=features, size=size, face_color=UNLABELLED,
                border_color="#000000", scale=map_layer.scale, translate=map_layer.translate,
                metadata={ROLE: SAMPLE_ROLE, "map_layer": map_layer.name})
        for value in range(10):
            layer.bind_key(str(value), self._labeller(value), overwrite=True)
        self.points_layer = layer
        self._recolour()
        return layer

    def _labeller(self, value: int):
        def label_selected(layer: Points) -> None:
            self.label_selected(value, layer)
        label_selected.__doc__ = f"Reference class {value} for the selected sample points."
        return label_selected

    def label_selected(self, value: int, layer: Points | None = None) -> int:
        """Set the reference class of the selected points (0 clears), then select the next
        unlabelled one; returns how many were set."""
        layer = layer or self.points_layer
        if layer is None or not layer.selected_data:
            show_info("Select a sample point first (select mode, click), then press its key.")
            return 0
        chosen = sorted(layer.selected_data)
        features = layer.features.copy()
        features.iloc[chosen, features.columns.get_loc("reference")] = int(value)
        layer.features = features
        self._recolour(layer)
        self.next_point(layer)
        return len(chosen)

    def next_point(self, layer: Points | None = None) -> int | None:
        """Select the first unlabelled point and centre the view on it (None when all are
        labelled)."""
        layer = layer or self.points_layer
        if layer is None:
            return None
        todo = np.flatnonzero(layer.features["reference"].to_numpy() <= 0)
        if todo.size == 0:
            layer.selected_data = set()
            self.summary.setText(f"All {len(layer.data)} points labelled: press Compute.")
            return None
        i = int(todo[0])
        layer.selected_data = {i}
        world = np.asarray(layer.data[i]) * np.asarray(layer.scale) + np.asarray(
            layer.translate)
        self.viewer.camera.center = tuple(world)
        return i

    def _recolour(self, layer: Points | None = None) -> None:
        layer = layer or self.points_layer
        if layer is None or len(layer.data) == 0:
            return
        map_layer = self.viewer.layers[layer.metadata["map_layer"]] if (
            layer.metadata.get("map_layer") in self.viewer.layers) else None
        refs = layer.features["reference"].to_numpy()
        colours = np.ones((refs.size, 4))
        for i, v in enumerate(refs):
            if v > 0 and isinstance(map_layer, Labels):
                colours[i] = map_layer.get_color(int(v))
        layer.face_color = colours

    def sample_points(self) -> SamplePoints | None:
        """The points layer's points as the engine reads them."""
        layer = self.points_layer
        if layer is None or layer not in self.viewer.layers:
            show_error("Propose or load a sample first.")
            return None
        f = layer.features
        if any(c not in f for c in COLUMNS):
            show_error(f"'{layer.name}' is not a reference sample (its points lack "
                       f"{', '.join(COLUMNS)}).")
            return None
        return SamplePoints(*(f[c].to_numpy() for c in COLUMNS))

    def fill_from_layer(self) -> int:
        """Reference classes from the picked label raster at every point; returns how many
        points got a label."""
        pts, ref = self.sample_points(), self.reference_picker.value
        if pts is None:
            return 0
        if ref is None:
            show_error("Pick a reference layer (a label raster, e.g. a ground truth).")
            return 0
        data = np.asarray(ref.data)
        inside = ((pts.rows >= 0) & (pts.rows < data.shape[0]) & (pts.cols >= 0)
                  & (pts.cols < data.shape[1]))
        if not inside.all():
            show_error(f"'{ref.name}' ({data.shape[0]}×{data.shape[1]}) does not cover the "
                       "sample points.")
            return 0
        features = self.points_layer.features.copy()
        features["reference"] = data[pts.rows, pts.cols].astype(np.int64)
        self.points_layer.features = features
        self._recolour()
        n = int((features["reference"] > 0).sum())
        show_info(f"{n} of {len(features)} points labelled from '{ref.name}'"
                  + ("" if n == len(features) else " (the rest it leaves unlabelled)"))
        return n

    # -- report ----------------------------------------------------------------------------
    def compute(self) -> Assessment | None:
        """The report of the labelled points on their map, into the table."""
        pts = self.sample_points()
        if pts is None:
            return None
        layer = self._sample_map()
        layer = self._map() if layer is None else layer
        if layer is None:
            return None
        cmap = np.asarray(layer.data)
        ha, note = self._pixel_area(layer)
        try:
            result = assess_points(cmap, pts, exclude=self._exclude(cmap.shape),
                                   class_names=_class_names(layer), pixel_area_ha=ha,
                                   area_note=note)
        except ValueError as exc:
            show_error(f"Cannot assess '{layer.name}': {exc}")
            return None
        self.result = result
        self._fill_table(result)
        return result

    def _fill_table(self, result: Assessment) -> None:
        r = result.report
        rows = r.table()
        self.table.setRowCount(len(rows))
        for i, t in enumerate(rows):
            cells = [f"{t['class']} {t['name']}".strip(), str(t["points"]),
                     _pm(t["users"], r.z * t["users_se"]),
                     _pm(t["producers"], r.z * t["producers_se"]),
                     _pm(t["area_pixels"], r.z * t["area_pixels_se"], 0),
                     _pm(t.get("area_ha"), r.z * (t.get("area_ha_se") or 0), 2)]
            for j, text in enumerate(cells):
                self.table.setItem(i, j, QTableWidgetItem(text))
        self.table.resizeColumnsToContents()
        lo, hi = r.oa_ci
        notes = " ".join(f"{n[0].upper()}{n[1:]}." for n in [*result.notes, *r.notes])
        self.summary.setText(
            f"OA {r.oa:.3f} ± {r.z * r.oa_se:.3f} ({100 * r.confidence:.0f} % CI {lo:.3f}–"
            f"{hi:.3f}) from {int(result.used.sum())} points; population "
            f"{r.population_pixels} px. ± is the {100 * r.confidence:.0f} % interval's half "
            f"width. {notes}")

    def export(self, path: str | Path | None = None, overwrite: bool = False) -> Path | None:
        """Write the table (``.csv``, ``.json`` or ``.png`` by the suffix); with no path, a
        file dialog (which asks before replacing a file)."""
        if self.result is None:
            show_error("Compute the report first.")
            return None
        if path is None:
            path, _ = QFileDialog.getSaveFileName(self, "Export assessment", "assessment.csv",
                                                  "Table (*.csv *.json *.png)")
            if not path:
                return None
            overwrite = True
        p = Path(path)
        if p.suffix.lower() not in REPORT_SUFFIXES:
            show_error(f"{p.name}: export as {', '.join(REPORT_SUFFIXES)}.")
            return None
        try:
            check_outputs([p], overwrite=overwrite, hint="choose another name or replace")
            write_report(p, self.result, overwrite=overwrite)
        except (OSError, ValueError) as exc:
            show_error(f"Could not export: {exc}")
            return None
        show_info(f"Assessment written to {p}")
        return p

    def save_points(self, path: str | Path | None = None, overwrite: bool = False
                    ) -> Path | None:
        """The points (with their references so far) as CSV, with the x,y map coordinates of
        their pixel centres when the map they were drawn on is georeferenced (the CLI
        proposal's writer)."""
        pts = self.sample_points()
        if pts is None:
            return None
        if path is None:
            path, _ = QFileDialog.getSaveFileName(self, "Save sample points", "points.csv",
                                                  "CSV (*.csv)")
            if not path:
                return None
            overwrite = True
        try:
            check_outputs([path], overwrite=overwrite, hint="choose another name or replace")
            layer = self._sample_map()
            geometry = None if layer is None else geometry_from_tags(self._geo(layer))
            write_points(path, pts, geometry=geometry, overwrite=overwrite)
        except (OSError, ValueError) as exc:
            show_error(f"Could not save the points: {exc}")
            return None
        show_info(f"{len(pts)} points written to {path}")
        return Path(path)

    def load_points(self, path: str | Path | None = None) -> Points | None:
        """Points from a CSV (row, col, map_class, reference) onto the picked class map."""
        layer = self._map()
        if layer is None:
            return None
        if path is None:
            path, _ = QFileDialog.getOpenFileName(self, "Load sample points", "", "CSV (*.csv)")
            if not path:
                return None
        try:
            pts = read_points(path)
        except (OSError, ValueError) as exc:
            show_error(f"Could not read the points: {exc}")
            return None
        shape = np.shape(layer.data)
        if (pts.rows.min() < 0 or pts.cols.min() < 0 or pts.rows.max() >= shape[0]
                or pts.cols.max() >= shape[1]):
            show_warning(f"{Path(path).name}: points lie outside '{layer.name}' "
                         f"({shape[0]}×{shape[1]}); pick the map they were drawn on.")
            return None
        return self._show_points(layer, pts)


def _class_names(layer: Labels) -> dict[int, str]:
    names = layer.metadata.get("class_names") or {}
    return {int(k): str(v) for k, v in names.items()}


def _pm(value, half, digits: int = 3) -> str:
    if value is None:
        return ""
    if not np.isfinite(value):
        return "–"
    return f"{value:.{digits}f} ± {half:.{digits}f}"
