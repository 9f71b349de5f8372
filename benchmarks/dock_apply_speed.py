"""Seconds for the dock's Apply on a lazy scene in a real viewer (Xvfb): its own progress bar
(now) vs a napari progress bar (before); prints JSON.

    QT_QPA_PLATFORM=xcb xvfb-run -a -s "-screen 0 1600x1000x24" \\
        python benchmarks/dock_apply_speed.py [--size 1024] [--repeats 2] [--work DIR]

The scene is ``big_scene.py``'s Indian Pines mosaic as zarr (built under ``--work`` when
missing), opened lazily as napari's reader would; the model is trained on it for 2 windowed
iterations (saved under ``--work``; its accuracy does not matter here). Each run is a fresh
process with a fresh viewer: load the model, Apply, wait for the map, the main thread in Qt's
event loop as in napari. The two ways alternate. While a napari progress bar exists napari
animates its activity indicator, which a display drawn by the CPU repaints all the time.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))


def model(cube: Path, gt: Path, out: Path) -> Path:
    """A 2-iteration windowed model of the mosaic (only its speed matters)."""
    from napari_ssdgl.io.lazy import open_lazy
    from napari_ssdgl.prediction.modelfile import save_classifier
    from napari_ssdgl.training import TrainConfig, Trainer, split_by_fraction

    if not (out / "model.json").exists():
        train, _ = split_by_fraction(np.load(gt), 0.05, seed=0)
        trainer = Trainer(open_lazy(cube).data, train, TrainConfig(iterations=2, seed=0))
        for _ in trainer.run():
            pass
        save_classifier(trainer.result(), out)
    return out


def apply_once(way: str, cube: str, model_dir: str) -> dict:
    """One Apply in this process's viewer, with the dock's bar or napari's."""
    import napari
    from qtpy.QtWidgets import QApplication

    import napari_ssdgl._napari._model_box as model_box
    from napari_ssdgl._napari._widget import SSDGLWidget
    from napari_ssdgl.io.lazy import open_lazy

    if way == "napari_progress":
        from napari.utils import progress

        model_box.DockProgress = lambda bar, total=0, desc="": progress(total=total)
    viewer = napari.Viewer(show=True)
    viewer.window._qt_window.resize(1600, 1000)
    layer = viewer.add_image(open_lazy(cube).data, name="mosaic", metadata={"lazy": True})
    w = SSDGLWidget(viewer)
    viewer.window.add_dock_widget(w)
    app = QApplication.instance()
    for _ in range(20):
        app.processEvents()
        time.sleep(0.05)
    w.load_model(model_dir)
    start = time.perf_counter()
    w.apply_to_cube(layer)
    while w.running:
        app.processEvents()
        time.sleep(0.01)
    seconds = time.perf_counter() - start
    done = w.model.status.text()
    viewer.close()
    return {"way": way, "apply_s": round(seconds, 1), "status": done[:60]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--work", help="folder holding or receiving the mosaic and model")
    ap.add_argument("--way", help=argparse.SUPPRESS)  # internal: one run here
    ap.add_argument("--cube", help=argparse.SUPPRESS)
    ap.add_argument("--model", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.way:
        print(json.dumps(apply_once(args.way, args.cube, args.model)))
        return
    from big_scene import build

    work = Path(args.work or tempfile.mkdtemp(prefix="dock_apply_"))
    cube, gt = build(args.size, work, 0)
    model_dir = model(cube, gt, work / f"model_{args.size}_2it")
    runs = []
    for _ in range(args.repeats):
        for way in ("napari_progress", "dock_progress"):
            done = subprocess.run([sys.executable, __file__, "--way", way, "--cube", str(cube),
                                   "--model", str(model_dir)], capture_output=True, text=True)
            if done.returncode:
                sys.exit(done.stderr)
            runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(json.dumps(runs[-1]), file=sys.stderr, flush=True)
    print(json.dumps({"size": args.size, "runs": runs}))


if __name__ == "__main__":
    main()
