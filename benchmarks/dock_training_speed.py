"""Seconds per SSDGL iteration on Indian Pines headless vs in the dock (real viewer, Xvfb), with
and without a napari progress bar open; prints JSON.

    QT_QPA_PLATFORM=xcb xvfb-run -a -s "-screen 0 1600x1000x24" \\
        python benchmarks/dock_training_speed.py [--iterations 8] [--repeats 2]

The dock trains with its defaults on 10 px per class; the main thread waits in Qt's event loop
as a user's napari does. ``with_napari_progress`` opens a ``napari.utils.progress`` for the run
(as the dock's training did before): napari then animates its activity indicator, which a
CPU-drawn display (Xvfb's llvmpipe) repaints continuously. Per-thread CPU seconds show where
the time goes. Steady state: the first two iterations are left out.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--iterations", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    import psutil
    import torch
    from interactive import Session
    from napari.utils import progress
    from qtpy.QtCore import QEventLoop, QTimer

    from napari_ssdgl._napari import _warmup
    from napari_ssdgl.training import split_per_class
    from napari_ssdgl.training.trainer import TrainConfig, Trainer

    s = Session("indian_pines")
    w = s.w
    w.new_labels_layer()
    train, _ = split_per_class(s.truth, 10, seed=0)
    rows, cols = np.nonzero(train)
    w.labels_picker.value.data_setitem((rows, cols), train[rows, cols])
    s.wait(lambda: not any(t.is_alive() for t in _warmup.threads), 600)
    n = args.iterations
    proc = psutil.Process()

    def steady(stamps: list[float]) -> float:
        return round((stamps[-1] - stamps[1]) / (len(stamps) - 2), 3)

    def headless() -> float:
        trainer = Trainer(np.asarray(s.cube.data), train, TrainConfig(eval_every=0, seed=0))
        stamps = []
        for event in trainer.run():
            stamps.append(event.elapsed_s)
            if event.iteration >= n:
                trainer.stop()
        return steady(stamps)

    def cpu_by_thread() -> dict[str, float]:
        out: dict[str, float] = {}
        for t in proc.threads():
            try:
                name = Path(f"/proc/self/task/{t.id}/comm").read_text().strip()
            except OSError:
                name = "?"
            out[name] = out.get(name, 0.0) + t.user_time + t.system_time
        return out

    def dock(with_progress: bool) -> dict:
        s.events.clear()
        bar = progress(total=n, desc="as before") if with_progress else None
        before, start = cpu_by_thread(), time.perf_counter()
        w.train()
        loop = QEventLoop()

        def check() -> None:
            if len(s.events) >= n and w.running:
                w.stop()
            if not w.running:
                loop.quit()

        timer = QTimer()
        timer.timeout.connect(check)
        timer.start(100)
        loop.exec()
        if bar is not None:
            bar.close()
        after, wall = cpu_by_thread(), time.perf_counter() - start
        cpu = {k: round(v - before.get(k, 0.0), 1) for k, v in after.items()
               if v - before.get(k, 0.0) >= 0.1}
        return {"s_per_iteration": steady([e.elapsed_s for _, e in s.events]),
                "wall_s": round(wall, 1), "cpu_s_by_thread": cpu}

    runs = []
    for _ in range(args.repeats):
        runs.append({"headless": headless(), "dock": dock(False),
                     "dock_with_napari_progress": dock(True)})
    s.viewer.close()
    print(json.dumps({"benchmark": "dock_training_speed", "iterations": n,
                      "torch_threads": torch.get_num_threads(), "threads_alive":
                      threading.active_count(), "runs": runs}, indent=1))


if __name__ == "__main__":
    main()
