"""Hover latency of the "Spectral profile" dock on an Indian Pines sized cube (200 x 145 x 145).

Measures, in a shown viewer, the wall time from a Shift+mouse-move callback to the painted plot
(the live curve is blitted), with the 16 class-mean ± std curves of the ground truth on the plot.
``median_qt_repaint_ms`` is the part spent in Qt repainting the blitted region (under Xvfb that
composites the window with software OpenGL); ``full_redraws`` counts updates that had to widen
the y range and redraw the whole plot.
Uses Indian Pines from the tensorly wheel when installed, else random data of the same size.
Run under Xvfb: ``xvfb-run -a .venv/bin/python benchmarks/hover_latency.py``; prints JSON.
"""

from __future__ import annotations

import importlib.util
import json
import time
from types import SimpleNamespace

import numpy as np


def _scene_layers() -> tuple[list[tuple], str]:
    if importlib.util.find_spec("tensorly") is not None:
        from napari_ssdgl._napari._sample_data import scene_layers
        from napari_ssdgl.datasets import load_scene

        return scene_layers(load_scene("indian_pines")), "indian_pines"
    rng = np.random.default_rng(0)
    cube = rng.random((200, 145, 145), dtype=np.float32)
    gt = rng.integers(0, 17, (145, 145)).astype(np.int32)
    return [(cube, {"name": "random cube"}, "image"),
            (gt, {"name": "random labels"}, "labels")], "random"  # fmt: skip


def main(n: int = 200) -> dict:
    import napari
    from napari.utils.interactions import mouse_move_callbacks
    from qtpy.QtWidgets import QApplication

    from napari_ssdgl._napari._spectrum_plot import SpectralProfileWidget

    layer_data, source = _scene_layers()
    viewer = napari.Viewer(show=True)
    for data, kwargs, kind in layer_data:
        getattr(viewer, f"add_{kind}")(data, **kwargs)
    widget = SpectralProfileWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Spectral profile")
    t = time.perf_counter()
    widget.labels_combo.setCurrentIndex(1)
    class_ms = (time.perf_counter() - t) * 1e3
    app = QApplication.instance()
    for _ in range(50):
        app.processEvents()
        if widget.canvas._bg is not None:
            break
        time.sleep(0.02)
    t = time.perf_counter()
    widget.canvas.draw()
    full_draw_ms = (time.perf_counter() - t) * 1e3

    canvas, blit = widget.canvas, widget.canvas.blit
    paint_ms: list[float] = []

    def timed_blit(*args):  # the Qt repaint part of an update (window compositing under Xvfb)
        t0 = time.perf_counter()
        blit(*args)
        paint_ms.append((time.perf_counter() - t0) * 1e3)

    canvas.blit = timed_blit
    cube = viewer.layers[0]
    rng = np.random.default_rng(1)
    rows, cols = cube.data.shape[1:]
    times = []
    for _ in range(n):
        r, c = int(rng.integers(rows)), int(rng.integers(cols))
        event = SimpleNamespace(type="mouse_move", is_dragging=False, modifiers=["Shift"],
                                position=(0, r, c), handled=False)  # fmt: skip
        time.sleep(0.02)  # ~50 Hz mouse: the 15 ms throttle never defers an update
        t = time.perf_counter()
        mouse_move_callbacks(viewer, event)
        app.processEvents()
        while widget.live_pixel != (r, c):  # a deferred (throttled) update still counts
            app.processEvents()
        times.append((time.perf_counter() - t) * 1e3)
    viewer.close()
    ms = np.asarray(times)
    return {
        "benchmark": "hover_latency",
        "source": source,
        "cube_shape": list(cube.data.shape),
        "updates": n,
        "median_ms": round(float(np.median(ms)), 3),
        "p95_ms": round(float(np.percentile(ms, 95)), 3),
        "max_ms": round(float(ms.max()), 3),
        "median_qt_repaint_ms": round(float(np.median(paint_ms)), 3) if paint_ms else None,
        "full_redraws": n - len(paint_ms),
        "full_redraw_ms": round(full_draw_ms, 3),
        "class_means_ms": round(class_ms, 3),
        "target_ms": 50,
    }


if __name__ == "__main__":
    print(json.dumps(main()))
