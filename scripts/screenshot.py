"""Save a screenshot of napari with the SSDGL dock after a short training run.

    xvfb-run -a .venv/bin/python scripts/screenshot.py docs/screenshot.png

Opens the synthetic sample scene, paints 10 ground-truth pixels per class on a new labels
layer, trains a narrow SSDGL for a few hundred iterations (about a minute on a laptop CPU),
asks for suggested labels and saves the whole window. Not part of the test suite.
"""

from __future__ import annotations

import sys
import time

import napari
import numpy as np
from napari._qt.dialogs.qt_notification import NapariQtNotification
from qtpy.QtWidgets import QApplication

from napari_ssdgl.training import split_per_class

ITERATIONS = 200
MODEL_KWARGS = dict(widths=[32, 32, 64, 64], decoder_width=32, groups=4, time_steps=2)


def main(path: str = "docs/screenshot.png") -> None:
    viewer = napari.Viewer(title="napari-ssdgl")
    viewer.window._qt_window.resize(1500, 980)
    cube, gt = viewer.open_sample("napari-ssdgl", "synthetic")
    _, widget = viewer.window.add_plugin_dock_widget("napari-ssdgl", "SSDGL classifier")
    widget.setMinimumWidth(440)
    widget.gt_picker.value = gt
    labels = widget.new_labels_layer()
    labels.data = split_per_class(np.asarray(gt.data), 10, seed=0)[0].astype(np.uint16)
    gt.visible = False
    widget.config_overrides = dict(iterations=ITERATIONS, preview_every=25,
                                   model_kwargs=MODEL_KWARGS)
    widget.settings.setChecked(False)
    widget.train()
    app = QApplication.instance()
    while widget.running:
        app.processEvents()
        time.sleep(0.02)
    widget.suggest_labels(12)
    viewer.layers.selection.active = labels
    viewer.dims.set_point(0, int(cube.data.shape[0] * 0.6))
    viewer.reset_view()
    for toast in viewer.window._qt_window.findChildren(NapariQtNotification):
        toast.close()  # e.g. the PyQt5 deprecation notice would cover the canvas
    for _ in range(20):
        app.processEvents()
        time.sleep(0.02)
    viewer.screenshot(path, canvas_only=False)
    print(f"saved {path}; {widget.status.text()}")
    viewer.close()


if __name__ == "__main__":
    main(*sys.argv[1:])
