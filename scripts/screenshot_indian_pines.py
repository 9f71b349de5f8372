"""The README screenshot: a newcomer's run on Indian Pines in a real viewer (needs tensorly).

    QT_QPA_PLATFORM=xcb xvfb-run -a -s "-screen 0 1600x1000x24" \\
        .venv/bin/python scripts/screenshot_indian_pines.py docs/screenshot.png 12

Opens the sample, opens the dock, New labels layer, 10 ground-truth pixels per class as the
strokes, waits for the dock's background warm-up (the user would be painting), presses Train for
N iterations, asks for 20 suggestions, applies the Prediction view, opens the dock's Results
tab and saves the whole window (and, before training, NAME_open.png). Prints the
click-to-first-iteration lag. Not a test.
"""

from __future__ import annotations

import sys
import time

import napari
import numpy as np
from napari._qt.dialogs.qt_notification import NapariQtNotification
from qtpy.QtWidgets import QApplication

from napari_ssdgl._napari import _warmup
from napari_ssdgl.training import split_per_class


def pump(app: QApplication, n: int = 20) -> None:
    for _ in range(n):
        app.processEvents()
        time.sleep(0.02)


def main(out: str, iterations: int) -> None:
    viewer = napari.Viewer(title="napari-ssdgl")
    viewer.window._qt_window.resize(1600, 1000)
    _, gt = viewer.open_sample("napari-ssdgl", "indian_pines")
    _, w = viewer.window.add_plugin_dock_widget("napari-ssdgl", "SSDGL classifier")
    app = QApplication.instance()
    pump(app)
    print("labels pick:", getattr(w.labels_picker.value, "name", None),
          "gt pick:", getattr(w.gt_picker.value, "name", None))
    viewer.screenshot(out.replace(".png", "_open.png"), canvas_only=False)
    labels = w.new_labels_layer()
    labels.data = split_per_class(np.asarray(gt.data), 10, seed=0)[0].astype(labels.data.dtype)
    w.settings.iterations.setValue(iterations)
    start = time.perf_counter()
    for thread in _warmup.threads:
        while thread.is_alive() and time.perf_counter() - start < 240:
            app.processEvents()
            thread.join(0.05)
    print(f"warm-up threads {len(_warmup.threads)}, "
          f"waited {time.perf_counter() - start:.1f}s while painting")
    start = time.perf_counter()
    w.train()
    first = None
    while w.running:
        app.processEvents()
        time.sleep(0.01)
        if first is None and len(w.plot.iters):
            first = time.perf_counter() - start
    print(f"click-to-first-iteration {first:.2f}s, run {time.perf_counter() - start:.1f}s")
    w.suggest_labels(20)
    w.views.apply("Prediction")
    w.tabs.setCurrentIndex([w.tabs.tabText(i) for i in range(w.tabs.count())].index("Results"))
    pump(app)
    for toast in viewer.window._qt_window.findChildren(NapariQtNotification):
        toast.close()
    pump(app)
    viewer.screenshot(out, canvas_only=False)
    print("status:", w.status.text())
    active = viewer.layers.selection.active
    print("active:", active.name if active else None)
    viewer.close()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
