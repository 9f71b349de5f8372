"""The "Live map" box: while "Live" is on, every stroke refits a per-pixel spectral classifier
(``training.live``) and redraws ``<cube> live map`` within about a second, beside SSDGL's
prediction (SSDGL is the refining pass).

Strokes are debounced (``DEBOUNCE_MS`` after the last paint/data event of the training-labels
layer). The fit and the map run in a napari thread worker on copies taken here on the main
thread; the layer is only touched in the worker's ``returned`` slot. A stroke while a live job
runs queues one more run with the newest labels when it ends. The cube's z-scored spectra are
made once per cube (in the worker) and reused for every stroke; turning Live on makes them
(and warms torch up with a tiny fit) before the first stroke, so that one is quick too.

A lazy cube (dask, bigger than memory) is never read whole (``training.live.LazyLiveScene``):
a fit reads only the painted pixels (each once), and the map covers the part of the scene in
view, at most :data:`VIEW_PX` px a side (a wider view is mapped every n-th pixel and shown in
blocks); panning or zooming maps the new view. The rest of the live map layer is 0.
"""

from __future__ import annotations

import math
import threading
import time

import numpy as np
from napari.layers import Labels
from napari.qt.threading import create_worker
from qtpy.QtCore import Qt, QTimer
from qtpy.QtWidgets import QCheckBox, QGroupBox, QLabel

from napari_ssdgl._napari._data_box import DataBox
from napari_ssdgl._napari._layers import (
    class_colors,
    class_names,
    default_color,
    in_view,
    label_colormap,
    upsert_layer,
)
from napari_ssdgl._napari._ui import fill
from napari_ssdgl.training.live import LazyLiveScene, LiveScene

DEBOUNCE_MS = 250
VIEW_PX = 512  # a lazy cube's live map: the view, read at most this many px a side


def view_region(layer, shape: tuple[int, int]) -> tuple[slice, slice, int]:
    """(rows, cols, step) of the part of ``layer`` in view (``_layers.in_view``); ``step``
    keeps the read within :data:`VIEW_PX` a side."""
    rows, cols = in_view(layer, shape, VIEW_PX)
    step = max(1, math.ceil(max(rows.stop - rows.start, cols.stop - cols.start) / VIEW_PX))
    return rows, cols, step


def live_work(scene: LiveScene | LazyLiveScene | None, cube, labels: np.ndarray | None,
              names: dict, colors: dict, view: tuple[slice, slice, int] | None = None):
    """Worker: (scene, classifier, prediction, seconds), or an Exception to show. Without
    ``labels``: only the scene, and a tiny fit that warms torch up (classifier None). A lazy
    ``cube`` (``view`` given): a :class:`LazyLiveScene` and the map of the view only."""
    start = time.perf_counter()
    try:
        if scene is None:
            scene = LiveScene(cube) if view is None else LazyLiveScene(cube)
        if labels is None:
            warm = np.zeros(scene.shape, np.int64)
            warm.flat[:2] = (1, 2)
            if view is None:  # a lazy scene's warm-up would read two pixels: not needed
                scene.fit(warm, steps=2)
            return scene, None, None, time.perf_counter() - start
        # a lazy view first: the fit takes the painted pixels in view from it, not the cube
        mapped = scene if view is None else scene.region(*view)
        clf = scene.fit(labels, class_names=names, colors=colors)
        return scene, clf, clf.predict(mapped), time.perf_counter() - start
    except Exception as exc:  # shown in the box's status line
        return exc


class LiveBox(QGroupBox):
    """The Live toggle, its status line and the live map layer of the data box's picks."""

    def __init__(self, viewer, data: DataBox, parent=None):
        super().__init__("Live map", parent)
        self.viewer, self.data = viewer, data
        self.toggle = QCheckBox("Live")
        self.toggle.setToolTip("Refit a fast per-pixel classifier after every stroke and show "
                               "it as '<cube> live map' (SSDGL's Train/Refine refine it)")
        self.status = QLabel("Turn Live on and paint: a quick map follows every stroke.")
        self.status.setWordWrap(True)
        fill(self, self.toggle, self.status)
        self.last = None  # (classifier, prediction) of the latest live map
        self.runs = 0  # live maps shown
        self.worker = None
        self._pending = False
        self._moved_only = False  # the next map follows a pan or zoom, no stroke
        self._done = threading.Event()
        self._scene: tuple | None = None  # (cube layer id, data id, shape, LiveScene)
        self._layer: Labels | None = None
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(DEBOUNCE_MS)
        self._timer.timeout.connect(self.update_now)
        self.toggle.toggled.connect(self._on_toggled)
        data.labels_picker.changed.connect(self._watch)
        data.cube_picker.changed.connect(lambda *_: self._on_toggled(self.toggle.isChecked()))
        self._watch(data.labels_picker.value)
        for event in (viewer.camera.events.center, viewer.camera.events.zoom):
            event.connect(self._on_view)

    @property
    def running(self) -> bool:
        return self.worker is not None

    def _watch(self, layer: Labels | None) -> None:
        """Follow the strokes of the training-labels layer ``layer``."""
        if self._layer is not None:
            for name in ("paint", "data"):
                ev = getattr(self._layer.events, name, None)
                if ev is not None:
                    ev.disconnect(self._on_stroke)
        self._layer = layer
        if layer is not None:
            for name in ("paint", "data"):
                ev = getattr(layer.events, name, None)
                if ev is not None:
                    ev.connect(self._on_stroke)
        self._on_toggled(self.toggle.isChecked())

    def _on_toggled(self, on: bool) -> None:
        if on:
            self._timer.start()

    def _on_stroke(self, *_) -> None:
        self._moved_only = False
        if self.toggle.isChecked():
            self._timer.start()  # restarts: the map follows the last stroke of a burst

    def _on_view(self, *_) -> None:
        """Pan or zoom: a lazy cube's live map follows the view (once a map was made)."""
        cube = self.data.cube_picker.value
        if (self.toggle.isChecked() and self.last is not None and cube is not None
                and not isinstance(cube.data, np.ndarray)):
            if not self._timer.isActive() and not self._pending:
                self._moved_only = True  # no stroke waits: the same fit, a new view
            self._timer.start()

    def update_now(self) -> None:
        """Refit and redraw now (or once the running live job ends)."""
        if not self.toggle.isChecked():
            return
        if self.worker is not None:
            self._pending = True
            return
        cube_layer, labels_layer = self.data.cube_picker.value, self.data.labels_picker.value
        if cube_layer is None or labels_layer is None:
            self.status.setText("Live: pick a cube and a training-labels layer.")
            return
        lazy = not isinstance(cube_layer.data, np.ndarray)
        labels = np.array(labels_layer.data, copy=True)
        if labels.shape != tuple(cube_layer.data.shape[1:]):
            self.status.setText("Live: the labels layer is not the cube's size.")
            return
        key = (id(cube_layer), id(cube_layer.data), tuple(cube_layer.data.shape))
        scene = self._scene[3] if self._scene and self._scene[:3] == key else None
        if len(np.unique(labels[labels > 0])) < 2:
            self.status.setText("Live: paint pixels of at least 2 classes.")
            if scene is not None:
                return
            labels = None  # get the scene ready for the first stroke
        cube = None if scene is not None else (
            cube_layer.data if lazy else np.asarray(cube_layer.data))
        names = class_names(labels_layer) or class_names(cube_layer)
        colors = {} if labels is None else class_colors(
            labels_layer, sorted(int(v) for v in np.unique(labels[labels > 0])))
        view = view_region(cube_layer, labels.shape) if lazy else None
        target = (cube_layer.name, tuple(cube_layer.scale[-2:]),
                  tuple(cube_layer.translate[-2:]), key, view, self._moved_only)
        self._moved_only = False
        worker = create_worker(live_work, scene, cube, labels, names, colors, view,
                               _start_thread=False)
        worker.returned.connect(lambda result: self._on_result(target, result))
        worker.finished.connect(self._on_finished)
        self._done = done = threading.Event()
        worker.finished.connect(done.set, Qt.ConnectionType.DirectConnection)
        self.worker = worker
        if labels is not None:
            self.status.setText(f"Live: fitting on {int((labels > 0).sum())} px…")
        worker.start()

    def _on_result(self, target: tuple, result) -> None:
        if isinstance(result, Exception):
            self.status.setText(f"Live map failed: {result}")
            return
        name, scale, translate, key, view, moved = target
        scene, clf, prediction, seconds = result
        self._scene = (*key, scene)
        if clf is None:  # the scene is ready; no map yet
            return
        self.last = (clf, prediction)
        colors = {int(v): clf.colors.get(int(v), default_color(v)) for v in clf.class_values}
        active = self.viewer.layers.selection.active
        labels, where = prediction.labels, ""
        if view is not None:  # the view's map in a layer of the scene's size, 0 elsewhere
            rows, cols, step = view
            labels = np.zeros(key[2][1:], prediction.labels.dtype)
            block = np.repeat(np.repeat(prediction.labels, step, 0), step, 1)
            labels[rows, cols] = block[:rows.stop - rows.start, :cols.stop - cols.start]
            coarse = f", every {step} px each way" if step > 1 else ""
            where = (f" of the part in view (rows {rows.start}–{rows.stop}, cols "
                     f"{cols.start}–{cols.stop}{coarse}; the cube is lazy: pan or zoom and it "
                     "follows)")
        upsert_layer(self.viewer, f"{name} live map", labels, "labels", "live map",
                     colormap=label_colormap(colors), scale=scale, translate=translate,
                     on_create={"opacity": 0.6})
        if active is not None and active in self.viewer.layers:
            self.viewer.layers.selection.active = active  # strokes keep landing on the labels
        self.runs += 1
        after = "the view moved" if moved else "the stroke was taken"
        self.status.setText(f"Live map{where}: {clf.num_classes} classes, {seconds:.2f} s after "
                            f"{after}. Train or Refine for the SSDGL map.")

    def shutdown(self, wait_s: float = 10.0) -> None:
        """Turn Live off and wait for a running fit (the viewer is closing)."""
        self._timer.stop()
        self._pending = False
        self.toggle.setChecked(False)
        if self.worker is not None:
            self._done.wait(wait_s)

    def _on_finished(self) -> None:
        self.worker = None
        if self._pending:
            self._pending = False
            self.update_now()
