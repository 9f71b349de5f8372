"""Train in the dock on a lazy 2048 px scene in a real viewer (Xvfb), as a user would, and time
what they wait for; prints JSON.

    QT_QPA_PLATFORM=xcb xvfb-run -a -s "-screen 0 1600x1000x24" \\
        python benchmarks/dock_lazy_training.py [--size 2048] [--train-s 60] [--work DIR]

The scene is ``big_scene.py``'s Indian Pines mosaic as zarr (built under ``--work`` when
missing), opened with the plugin's reader (a lazy layer), its ground truth added as a hidden
Labels layer (the dock picks it). New labels layer; 10 px per class painted in the top-left
2 x 2 Indian Pines tiles, the view zoomed there; Train with the dock's defaults; Stop after
``--train-s`` seconds; then the map of the whole scene comes tile by tile. Reported: seconds
from the click until the Trainer is built (the band statistics), each iteration's time after
the click and whether it carried a preview, Stop to the map's start, to its first tile and to
the end (scored on the ground truth), and the final status line. The OA is that of a short run
at 10 px per class: it measures nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=2048)
    ap.add_argument("--train-s", type=float, default=60.0, help="Stop this long after Train")
    ap.add_argument("--work", help="folder holding or receiving the mosaic")
    args = ap.parse_args()

    import tempfile

    import napari
    from big_scene import build
    from qtpy.QtCore import QEventLoop, QTimer

    from napari_ssdgl._napari._lazy_apply import LazyJob
    from napari_ssdgl.training import split_per_class

    cube_path, gt_path = build(args.size, Path(args.work or tempfile.mkdtemp()), 0)

    def pump(s: float = 0.02) -> None:  # wait inside Qt's event loop, as napari does
        loop = QEventLoop()
        QTimer.singleShot(int(s * 1000), loop.quit)
        loop.exec_()

    def wait(done, timeout: float) -> None:
        t = time.perf_counter()
        while not done() and time.perf_counter() - t < timeout:
            pump()

    out: dict = {"size": args.size, "train_s": args.train_s}
    viewer = napari.Viewer(title="dock_lazy_training")
    viewer.window._qt_window.resize(1600, 1000)
    t = time.perf_counter()
    viewer.open(str(cube_path), plugin="napari-ssdgl")
    out["open_s"] = round(time.perf_counter() - t, 2)
    gt = np.load(gt_path)
    viewer.add_labels(gt, name="mosaic ground truth", visible=False)
    _, w = viewer.window.add_plugin_dock_widget("napari-ssdgl", "SSDGL classifier")
    pump(1)
    corner = np.zeros_like(gt)
    corner[:290, :290] = gt[:290, :290]
    w.new_labels_layer().data = split_per_class(corner, 10, seed=0)[0].astype(np.uint8)
    viewer.camera.center, viewer.camera.zoom = (145, 145), 2.5
    pump(2)
    events = []
    on_event = w.training._on_event
    t0 = time.perf_counter()

    def recording(job, event):  # the dock's slot, timed
        events.append((round(time.perf_counter() - t0, 2), event.iteration,
                       event.preview is not None))
        on_event(job, event)

    w.training._on_event = recording
    t0 = time.perf_counter()
    job = w.train()
    wait(lambda: job.trainer is not None or not w.running, 600)
    out["click_to_trainer_built_s"] = round(time.perf_counter() - t0, 2)
    wait(lambda: not w.running, max(0.0, args.train_s - (time.perf_counter() - t0)))
    stop = time.perf_counter()
    w.stop()

    def mapping() -> LazyJob | None:
        return next((j for j in w.runner.jobs if isinstance(j, LazyJob)), None)

    wait(lambda: mapping() is not None or not w.running, 1800)
    out["stop_to_map_start_s"] = round(time.perf_counter() - stop, 2)
    wait(lambda: (mapping() is not None and mapping().blocks_done > 0) or not w.running, 1800)
    out["stop_to_first_tile_s"] = round(time.perf_counter() - stop, 2)
    wait(lambda: not w.running, 3600)
    out["stop_to_map_done_s"] = round(time.perf_counter() - stop, 2)
    out["iterations"] = job.trainer.iterations_done
    out["status"] = w.training.status.text()
    out["events"] = events  # (seconds after the click, iteration, with a preview)
    viewer.close()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
