"""The "Data" box: which cube, training labels and ground truth the dock works on, and the
copies of them a background job takes (here, on the main thread, before it starts)."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np
from napari.layers import Image, Labels
from napari.utils.notifications import show_error, show_info, show_warning
from qtpy.QtWidgets import QCheckBox, QFileDialog, QFormLayout, QGroupBox, QInputDialog

from napari_ssdgl._napari._labels import add_blank_labels, add_imported_labels
from napari_ssdgl._napari._layers import is_output, size_text
from napari_ssdgl._napari._lazy_apply import is_lazy
from napari_ssdgl._napari._pickers import (
    is_cube,
    is_label_raster,
    layer_picker,
    looks_like_ground_truth,
)
from napari_ssdgl._napari._reader import opens_lazily, reopen_cube
from napari_ssdgl._napari._remap import parse_remap
from napari_ssdgl._napari._ui import button, fill, row
from napari_ssdgl.io import HSIReadError
from napari_ssdgl.io.emit import labels_to_grid, labels_to_swath, read_glt
from napari_ssdgl.training.windows import is_windowed
from napari_ssdgl.transforms.normalize import replace_nonfinite

LABEL_FILES = "Label rasters (*.mat *.tif *.tiff *.png *.npy *.npz *.hdr);;All files (*)"


def is_emit(layer: Image) -> bool:
    """A cube layer opened from an EMIT L2A file (``.nc``, the registry's EMIT suffix) that is
    still there to reopen."""
    source = layer.metadata.get("source")
    return bool(source) and Path(source).suffix.lower() == ".nc" and Path(source).is_file()


class DataBox(QGroupBox):
    """Cube, training-labels and ground-truth pickers; a new blank labels layer or an imported
    label raster becomes the training labels."""

    def __init__(self, viewer, parent=None):
        super().__init__("Data", parent)
        self.viewer = viewer
        self.cube_picker = layer_picker(viewer, is_cube)
        self.labels_picker = layer_picker(viewer, is_label_raster, nullable=True)
        self.gt_picker = layer_picker(viewer, is_label_raster, nullable=True)
        form = QFormLayout()
        form.addRow("Cube", self.cube_picker.native)
        form.addRow("Training labels", self.labels_picker.native)
        form.addRow("Ground truth", self.gt_picker.native)
        self.orthorectify = QCheckBox("Orthorectified (EMIT map grid)")
        self.orthorectify.setToolTip(
            "Reopen this EMIT L2A cube on its map grid with the file's geometry lookup table "
            "(GLT): class maps are georeferenced and assessed areas in ha, labels are carried "
            "onto the grid as new layers; a big granule stays "
            "lazy (read tile by tile), a small one is read into memory. "
            "Unchecked: the swath as acquired (rows downtrack), as napari opens the file.")
        self.orthorectify.clicked.connect(
            lambda on: self.set_orthorectified(self.cube_picker.value, bool(on)))
        self.orthorectify.setVisible(False)  # shown for an EMIT cube (_show_grid_choice)
        self.cube_picker.changed.connect(lambda *_: self._show_grid_choice())
        fill(self, form, self.orthorectify, row(
            button("New labels layer", self.new_labels_layer, "A blank layer the cube's size"),
            button("Import labels…", self._import_dialog, "Open a label raster file"),
            button("Band axis…", self._band_axis_dialog,
                   "Which axis of the file holds the bands (the reader's choice is in the "
                   "layer's metadata: band_axis, band_axis_source)")))
        # a pick the user (or a button) made sticks; the defaults below never override it
        self._chosen: dict[str, Labels | None] = {}
        for key, picker in (("labels", self.labels_picker), ("gt", self.gt_picker)):
            picker.native.activated.connect(
                lambda *_, key=key, picker=picker: self._chosen.__setitem__(key, picker.value))

    def reset_choices(self) -> None:
        for picker in (self.cube_picker, self.labels_picker, self.gt_picker):
            picker.reset_choices()
        self._default_picks()
        self._show_grid_choice()

    def _show_grid_choice(self) -> None:
        """The orthorectify box: shown for an EMIT cube, ticked when it is on its map grid."""
        layer = self.cube_picker.value
        emit = layer is not None and is_emit(layer)
        self.orthorectify.setVisible(emit)
        self.orthorectify.setChecked(emit and bool(layer.metadata.get("geo")))

    def _default_picks(self) -> None:
        """Ground truth: the layer that reads as one (the sample's), of the cube's size. Training
        labels: never a layer that reads as a ground truth, nor the ground-truth pick."""
        cube, gt = self.cube_picker.value, self.gt_picker.value
        shape = None if cube is None else tuple(cube.data.shape[1:])
        labels = [c for c in self.labels_picker.choices if c is not None]
        if gt is None and "gt" not in self._chosen:
            fits = [c for c in labels if looks_like_ground_truth(c)
                    and (shape is None or tuple(c.data.shape) == shape)]
            if fits:
                self.gt_picker.value = gt = fits[0]
        current = self.labels_picker.value
        if current is not None and self._chosen.get("labels") is current:
            return
        if current is None or current is gt or looks_like_ground_truth(current):
            others = [c for c in labels if c is not gt and not looks_like_ground_truth(c)]
            self.labels_picker.value = others[0] if others else None

    def refused_as_labels(self, layer: Labels) -> str | None:
        """Why ``layer`` may not be the training labels (it is the ground truth), else None."""
        if layer is self.gt_picker.value:
            return (f"'{layer.name}' is the ground-truth layer: training on it would score the "
                    "map on the pixels it learnt. Click 'New labels layer' and paint a few "
                    "pixels per class (or pick another layer as the ground truth).")
        return None

    def band_axis_choices(self, layer: Image) -> list[str]:
        """One entry per axis of the stored array, the reader's choice first and said why."""
        md = layer.metadata
        shape = md.get("stored_shape") or list(layer.data.shape)
        current = md.get("band_axis")
        why = md.get("band_axis_source") or "as read"
        out = [f"axis {i}: {n} bands" + (f" (now: {why})" if i == current else "")
               for i, n in enumerate(shape)]
        if current in range(len(out)):
            out.insert(0, out.pop(current))
        return out

    def _band_axis_dialog(self) -> None:
        layer = self.cube_picker.value
        if layer is None:
            show_error("Pick a cube first: 'Band axis…' reopens its file.")
            return
        choices = self.band_axis_choices(layer)
        picked, ok = QInputDialog.getItem(self, "Band axis",
                                          f"Which axis of {layer.name}'s file holds the bands?",
                                          choices, 0, False)
        if ok:
            self.set_band_axis(layer, int(picked.split(":")[0].split()[1]))

    def set_band_axis(self, layer: Image, axis: int) -> bool:
        """Reopen ``layer``'s file with the bands on stored ``axis`` (an EMIT cube on the grid
        it is on). A cube made in memory has no file to reopen."""
        if not layer.metadata.get("source") or not Path(layer.metadata["source"]).exists():
            show_error(f"'{layer.name}' has no file behind it to reopen: transpose the array "
                       "to (bands, rows, cols) before adding it.")
            return False
        on_grid = is_emit(layer) and bool(layer.metadata.get("geo"))
        return self._reopen(layer, f"with the bands on axis {axis}", band_axis=axis,
                            lazy=bool(layer.metadata.get("lazy")), orthorectify=on_grid)

    def set_orthorectified(self, layer: Image | None, on: bool) -> bool:
        """Reopen an EMIT L2A cube on its GLT map grid (``on``) or as the swath the reader
        opens; lazily either way when the file is big."""
        if layer is None or not is_emit(layer):
            show_error("Only an EMIT L2A cube (.nc) opened from its file can be orthorectified.")
            self._show_grid_choice()
            return False
        source = Path(layer.metadata["source"])
        was_on = bool(layer.metadata.get("geo"))
        carry = None if was_on == on else partial(self._carry_labels, source, on)
        done = self._reopen(layer, "on its map grid" if on else "as the swath", band_axis=None,
                            lazy=opens_lazily(source), orthorectify=on, carry=carry)
        self._show_grid_choice()
        return done

    def _reopen(self, layer: Image, how: str, carry=None, **options) -> bool:
        """Put ``reopen_cube(source, **options)`` in the layer (data, metadata, contrast) and
        say which labels no longer fit it; ``carry(layer, old_size)`` may first bring some onto
        the new grid (it returns their names)."""
        try:
            data, kwargs, _ = reopen_cube(layer.metadata["source"], **options)
        except (HSIReadError, ValueError, MemoryError) as exc:
            show_error(f"Could not reopen '{layer.name}' {how}: {exc or 'not enough memory'}")
            return False
        old = tuple(layer.data.shape[1:])
        layer.data = data
        layer.metadata = kwargs["metadata"]
        if "contrast_limits" in kwargs:
            layer.contrast_limits = kwargs["contrast_limits"]
        size = tuple(data.shape[1:])
        carried = carry(layer, old) if carry is not None else {}
        stale = [o.name for o in self.viewer.layers if isinstance(o, Labels)
                 and tuple(o.data.shape) != size and o.name not in carried]
        if carried:
            show_info(f"'{layer.name}' is now {how}; its labels were carried onto it as new "
                      f"layers: {', '.join(carried.values())} (the originals are kept, "
                      "hidden, as they were)")
        if stale:
            show_warning(f"'{layer.name}' is now {data.shape[0]} bands of {size[0]} x {size[1]} "
                         f"px; these labels no longer fit it: {', '.join(stale)}")
        self.reset_choices()
        for key, picker in (("labels", self.labels_picker), ("gt", self.gt_picker)):
            picked = self._chosen.get(key) or picker.value
            if picked is not None and picked.name in carried:
                picker.value = self._chosen[key] = self.viewer.layers[carried[picked.name]]
        return True

    def _carry_labels(self, source: Path, on: bool, cube: Image,
                      old: tuple[int, int]) -> dict[str, str]:
        """The label layers painted or loaded on the cube's old geometry (not the plugin's
        outputs), copied onto its new one (``on``: the map grid) through the file's GLT as new
        layers: {old name: new name}."""
        try:
            gx, gy = read_glt(source)
        except HSIReadError as exc:
            show_warning(f"The labels could not be carried onto the new grid: {exc}")
            return {}
        suffix = " (map grid)" if on else " (swath)"
        carried = {}
        for o in [o for o in self.viewer.layers if isinstance(o, Labels)
                  and tuple(o.data.shape) == old and not is_output(o)]:
            data = np.asarray(o.data)
            moved = (labels_to_grid(data, gx, gy) if on else
                     labels_to_swath(data, gx, gy, tuple(cube.data.shape[1:])))
            base = o.name.removesuffix(" (map grid)").removesuffix(" (swath)")
            new = self.viewer.add_labels(moved, name=base + suffix,
                                         metadata=dict(o.metadata), colormap=o.colormap,
                                         scale=cube.scale[-2:], translate=cube.translate[-2:])
            o.visible = False
            carried[o.name] = new.name
        return carried

    def new_labels_layer(self) -> Labels | None:
        """A blank 2-D labels layer the size of the cube, selected in paint mode."""
        cube = self.cube_picker.value
        if cube is None:
            show_error("Pick a cube first: the new labels layer takes its rows and columns.")
            return None
        gt = self.gt_picker.value
        layer = add_blank_labels(self.viewer, cube, gt)
        self.labels_picker.value = layer
        self._chosen["labels"] = layer
        for other in self.viewer.layers:  # painting must show: hide what would cover it
            if other is gt or (other is not layer and looks_like_ground_truth(other)):
                other.visible = False
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
        self._chosen["labels"] = layer
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

    # -- copies for the worker ---------------------------------------------------------------
    def training_cube(self, layer: Image, window: int | None):
        """What the Trainer gets: the layer's lazy array itself when its scene trains in
        windows of ``window`` px (the Trainer streams its statistics and reads one window at a
        time, so it is never copied whole), else :meth:`copy_cube`. Lazy means what Apply does
        not copy (dask, zarr, a big array) and not a writable numpy array: a dask array is
        immutable and ``layer.data = ...`` only rebinds the layer, but a writable array could
        be edited in place while training reads it."""
        data = layer.data
        writable = isinstance(data, np.ndarray) and data.flags.writeable
        if (data.ndim == 3 and not writable and is_lazy(data)
                and is_windowed(tuple(data.shape[1:]), window)):
            return data
        return self.copy_cube(layer)

    def copy_cube(self, layer: Image, fill=None) -> np.ndarray:
        """float32 copy of the cube with NaN/inf replaced (warned once, here)."""
        cube, messages = replace_nonfinite(np.asarray(layer.data), fill=fill)
        for m in messages:
            show_warning(f"'{layer.name}': {m}")
        return cube

    def copy_gt(self, shape) -> np.ndarray | None:
        """The ground truth, if one is picked and has the cube's ``(rows, cols)`` ``shape``."""
        gt_layer = self.gt_picker.value
        if gt_layer is None:
            return None
        if tuple(gt_layer.data.shape) != tuple(shape):
            show_warning(f"Ground truth '{gt_layer.name}' is {size_text(gt_layer, 0)}, not "
                         f"{shape[0]}×{shape[1]}; accuracy is skipped.")
            return None
        return np.array(gt_layer.data, copy=True)

    def painted_on(self, layer: Image) -> np.ndarray | None:
        """The training labels when ``layer`` is the training cube, so that a score of its map
        leaves the painted pixels out."""
        labels = self.labels_picker.value if self.cube_picker.value is layer else None
        if labels is None or tuple(labels.data.shape) != tuple(layer.data.shape[1:]):
            return None
        return np.array(labels.data, copy=True)
