"""The README screenshot: a newcomer's run on Indian Pines in a real viewer (needs tensorly).

    QT_QPA_PLATFORM=xcb xvfb-run -a -s "-screen 0 1600x1000x24" \\
        .venv/bin/python scripts/screenshot_indian_pines.py docs/screenshot.png 12

Opens the sample, opens the dock, New labels layer, 10 ground-truth pixels per class as the
strokes, waits for the dock's background warm-up (the user would be painting), presses Train for
N iterations, asks for 20 suggestions, applies the Prediction view, opens the dock's Results
tab and saves the whole window (and, before training, NAME_open.png). Prints the click-to-first-iteration lag. Not a test.
"""

import sys
import time

import napari
import numpy as np
from napari._qt.dialogs.qt_notification import NapariQtNotification
from qtpy.QtWidgets import QApplication

from napari_ssdgl.training import split_per_class

out, iters = sys.argv[1], int(sys.argv[2])
viewer = napari.Viewer(title="napari-ssdgl")
viewer.window._qt_window.resize(1600, 1000)
layers = viewer.open_sample("napari-ssdgl", "indian_pines")
cube, gt = layers
_, w = viewer.window.add_plugin_dock_widget("napari-ssdgl", "SSDGL classifier")
app = QApplication.instance()
def pump(n=20):
    for _ in range(n):
        app.processEvents(); time.sleep(0.02)
pump()
print("labels pick:", getattr(w.labels_picker.value, "name", None), "gt pick:", getattr(w.gt_picker.value, "name", None))
viewer.screenshot(out.replace(".png", "_open.png"), canvas_only=False)
lab = w.new_labels_layer()
lab.data = split_per_class(np.asarray(gt.data), 10, seed=0)[0].astype(lab.data.dtype)
w.settings.iterations.setValue(iters)
from napari_ssdgl._napari import _warmup

tw = time.perf_counter()
for th in _warmup.threads:
    while th.is_alive() and time.perf_counter() - tw < 240:
        app.processEvents(); th.join(0.05)
print(f"warm-up threads {len(_warmup.threads)}, waited {time.perf_counter()-tw:.1f}s while painting")
t0 = time.perf_counter()
w.train()
first = None
while w.running:
    app.processEvents(); time.sleep(0.01)
    if first is None and len(w.plot.iters):
        first = time.perf_counter() - t0
        print(f"click-to-first-iteration {first:.2f}s", flush=True)
print(f"click-to-first-iteration {first:.2f}s, run {time.perf_counter()-t0:.1f}s")
w.suggest_labels(20)
w.views.apply("Prediction")
w.tabs.setCurrentIndex([w.tabs.tabText(i) for i in range(w.tabs.count())].index("Results"))
pump()
for toast in viewer.window._qt_window.findChildren(NapariQtNotification):
    toast.close()
pump()
viewer.screenshot(out, canvas_only=False)
print("status:", w.status.text())
print("active:", viewer.layers.selection.active.name if viewer.layers.selection.active else None)
viewer.close()
