"""A scripted newcomer's run of the interactive loop in a real viewer (issue 18's benchmark).

Steps, as a user would take them, timed on the wall clock:

1. File › Open Sample › Indian Pines (the plugin's sample contribution) and the SSDGL dock from
   the Plugins menu (its background warm-up starts then); **New labels layer**; **Live** on.
2. 10 px per class painted at ground-truth pixels (``split_per_class``, seeded), one stroke per
   class through the Labels painting API, each stroke waited on until the live map redraws:
   latency per stroke (stroke to live map on screen, the debounce included) and the live map's
   OA on the ground truth minus the painted pixels.
3. **Train** with the dock's defaults: click to first iteration, click to the first class map
   on screen (the first preview), the OA of the map on screen at 30 / 60 / 120 s after the
   click (the latest preview, scored here on ground truth minus painted pixels); then Stop
   (the best model is kept) and the final map's OA. ``--full`` trains to the end instead.
4. **Suggest labels**; 5 px per class at the suggested points (labelled with the ground truth's
   class there, the suggestion order kept); **Refine**: seconds and OA gain; then **Train**
   from scratch on the same labels: its OA when it has run as long as the Refine took, and at
   the same checkpoints.

Every OA here counts the same pixels within a step (ground truth minus the pixels painted at
that point). Run under Xvfb with a 1600x1000 screen, on an idle machine:

    QT_QPA_PLATFORM=xcb xvfb-run -a -s "-screen 0 1600x1000x24" \\
        .venv/bin/python benchmarks/interactive.py > benchmarks/results/interactive.json

``--quick``: a smoke run on the synthetic sample with a tiny model and short checkpoints
(well under 2 minutes); its numbers measure nothing. Prints one JSON document.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np

CHECKPOINTS_S = (10.0, 30.0, 60.0, 120.0)
POLL_S = 0.02  # how often a wait looks at the dock, from inside Qt's event loop
QUICK = {"sample": "synthetic", "checkpoints": (2.0, 4.0, 8.0),
         "overrides": {"model_kwargs": {"widths": (16, 16, 16, 16), "decoder_width": 8,
                                        "groups": 4}, "preset": None, "iterations": 60},
         "refine_iterations": 20}  # fmt: skip


class Session:
    """The viewer, the dock and a clock; ``pump`` runs the Qt event loop like a user waiting."""

    def __init__(self, sample: str):
        import napari
        from qtpy.QtWidgets import QApplication

        self.viewer = napari.Viewer(title="napari-ssdgl benchmark")
        self.viewer.window._qt_window.resize(1600, 1000)
        self.app = QApplication.instance()
        t = time.perf_counter()
        self.cube, self.gt = self.viewer.open_sample("napari-ssdgl", sample)
        self.open_sample_s = time.perf_counter() - t
        t = time.perf_counter()
        _, self.w = self.viewer.window.add_plugin_dock_widget("napari-ssdgl", "SSDGL classifier")
        self.open_dock_s = time.perf_counter() - t
        self.truth = np.asarray(self.gt.data)
        self.events: list[tuple[float, object]] = []  # (perf_counter, TrainEvent) of a run
        on_event = self.w.training._on_event

        def recording(job, event):  # the dock's slot, on the main thread, timed
            self.events.append((time.perf_counter(), event))
            on_event(job, event)

        self.w.training._on_event = recording  # train() connects the slot it finds here

    def pump(self, seconds: float = POLL_S) -> None:
        """Run Qt's event loop for ``seconds``, idle inside it as a user's napari is. (Polling
        processEvents in a Python loop instead holds the GIL so often that it slowed the
        training thread about threefold in this benchmark's first version.)"""
        from qtpy.QtCore import QEventLoop, QTimer

        loop = QEventLoop()
        QTimer.singleShot(max(1, int(seconds * 1000)), loop.quit)
        loop.exec()

    def wait(self, done, timeout_s: float) -> float:
        """Seconds until ``done()`` (checked every ``POLL_S`` in the event loop); raises on
        timeout."""
        t = time.perf_counter()
        while not done():
            if time.perf_counter() - t > timeout_s:
                raise TimeoutError(f"waited {timeout_s:.0f} s")
            self.pump()
        return time.perf_counter() - t

    def oa(self, labels: np.ndarray | None, painted: np.ndarray) -> float | None:
        """OA of a class map on the ground truth minus the ``painted`` pixels."""
        from napari_ssdgl.analysis.metrics import classification_metrics

        if labels is None:
            return None
        m = classification_metrics(np.asarray(labels), self.truth, exclude=painted > 0)
        return round(float(m["oa"]), 4)


def paint_live(s: Session, strokes: dict[int, np.ndarray], timeout_s: float) -> dict:
    """One stroke per class (its pixels, flat indices) through Labels.data_setitem, as the
    paint brush does; each waits for the live map to redraw."""
    layer = s.w.labels_picker.value
    live = s.w.live
    t = time.perf_counter()
    live.toggle.setChecked(True)
    ready = s.wait(lambda: live._scene is not None and not live.running, timeout_s)
    latencies, oas, fits = [], [], []
    for value, flat in strokes.items():
        rows, cols = np.unravel_index(flat, layer.data.shape)
        before = live.runs
        t0 = time.perf_counter()
        layer.data_setitem((rows, cols), value)
        if len(np.unique(layer.data[layer.data > 0])) < 2:  # one class: no map to draw yet
            s.pump(0.5)
            latencies.append(None)
            oas.append(None)
            continue
        s.wait(lambda b=before: live.runs > b and not live.running, timeout_s)
        latencies.append(round(time.perf_counter() - t0, 3))
        oas.append(s.oa(live.last[1].labels, np.asarray(layer.data)))
        fits.append(live.status.text())
    done = [x for x in latencies if x is not None]
    return {"live_ready_s": round(ready, 3), "strokes": len(strokes),
            "latency_s": latencies, "latency_median_s": round(float(np.median(done)), 3)
            if done else None, "latency_max_s": max(done) if done else None,
            "oa_after_each_stroke": oas, "final_oa": oas[-1] if oas else None,
            "paint_wall_s": round(time.perf_counter() - t, 2),
            "last_status": fits[-1] if fits else None}  # fmt: skip


def run_training(s: Session, start, checkpoints: tuple[float, ...], budget_s: float | None,
                 timeout_s: float) -> dict:
    """Press ``start`` (train or refine), record what shows when, stop at ``budget_s``."""
    painted = np.array(s.w.labels_picker.value.data, copy=True)
    s.events.clear()
    t0 = time.perf_counter()
    job = start()
    if job is None:
        raise RuntimeError(f"the dock refused to start: {s.w.messages.text()}")
    at: dict[str, dict] = {}
    pending = sorted(checkpoints)
    stopped = False
    while s.w.running:
        s.pump()
        now = time.perf_counter() - t0
        while pending and now >= pending[0]:
            previews = [e.preview for _, e in s.events if e.preview is not None]
            tests = [e.test["oa"] for _, e in s.events if e.test]
            at[f"{pending[0]:g}"] = {
                "iteration": s.events[-1][1].iteration if s.events else 0,
                "map_oa": s.oa(previews[-1] if previews else None, painted),
                "trainer_test_oa": round(tests[-1], 4) if tests else None}
            pending.pop(0)
        if budget_s is not None and not stopped and now >= budget_s:
            s.w.stop()
            stopped = True
        if now > timeout_s:
            s.w.stop()
            raise TimeoutError(f"training still running after {timeout_s:.0f} s")
    total = time.perf_counter() - t0
    first_it = s.events[0][0] - t0 if s.events else None
    first_map = next((t - t0 for t, e in s.events if e.preview is not None), None)
    final = s.w.last_output[1].labels if s.w.last_output is not None else None
    return {"click_to_first_iteration_s": None if first_it is None else round(first_it, 3),
            "first_iteration_elapsed_s": round(s.events[0][1].elapsed_s, 3) if s.events
            else None,
            "click_to_first_map_s": None if first_map is None else round(first_map, 3),
            "iterations_done": s.events[-1][1].iteration if s.events else 0,
            "iterations": job.trainer.config.iterations, "stopped": stopped,
            "at_s": at, "seconds": round(total, 2), "final_oa": s.oa(final, painted),
            "status": s.w.status.text()}  # fmt: skip


def add_suggested(s: Session, per_class: int) -> dict:
    """``per_class`` px per class at the suggested points, labelled with the ground truth."""
    classes = [int(v) for v in np.unique(s.truth) if v]
    points = s.w.suggest_labels(per_class * len(classes) * 2)
    if points is None:
        raise RuntimeError("no suggestions")
    layer = s.w.labels_picker.value
    added = dict.fromkeys(classes, 0)
    for r, c in np.round(np.asarray(points.data)[:, -2:]).astype(int):
        v = int(s.truth[r, c])
        if v and added[v] < per_class and layer.data[r, c] == 0:
            layer.data_setitem((np.array([r]), np.array([c])), v)
            added[v] += 1
    s.pump(0.1)
    return {"suggested": len(points.data), "added": sum(added.values()),
            "classes_short": {k: n for k, n in added.items() if n < per_class}}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="smoke run: synthetic, tiny model")
    ap.add_argument("--full", action="store_true", help="train to the end, no Stop at 120 s")
    ap.add_argument("--seed", type=int, default=0, help="which ground-truth pixels are painted")
    ap.add_argument("--timeout", type=float, default=3600, help="seconds per step at most")
    args = ap.parse_args(argv)
    from napari_ssdgl.training import split_per_class

    sample = QUICK["sample"] if args.quick else "indian_pines"
    checkpoints = QUICK["checkpoints"] if args.quick else CHECKPOINTS_S
    s = Session(sample)
    w = s.w
    if args.quick:
        w.config_overrides = dict(QUICK["overrides"])
        w.settings.refine_iterations.setValue(QUICK["refine_iterations"])
    out: dict = {"benchmark": "interactive", "sample": sample, "quick": args.quick,
                 "cube_shape": list(s.cube.data.shape), "seed": args.seed,
                 "threads": os.environ.get("OMP_NUM_THREADS"), "cpu": platform.processor()
                 or platform.machine(), "open_sample_s": round(s.open_sample_s, 2),
                 "open_dock_s": round(s.open_dock_s, 2)}  # fmt: skip
    w.new_labels_layer()
    train, _ = split_per_class(s.truth, 10, seed=args.seed)
    strokes = {int(v): np.flatnonzero(train == v) for v in np.unique(train) if v}
    out["live"] = paint_live(s, strokes, args.timeout)
    from napari_ssdgl._napari import _warmup

    t = time.perf_counter()  # the dock's warm-up, started when it opened, while the user painted
    s.wait(lambda: not any(th.is_alive() for th in _warmup.threads), args.timeout)
    out["warmup_wait_after_painting_s"] = round(time.perf_counter() - t, 2)
    w.live.toggle.setChecked(False)  # Live off: its fits would share the CPU with SSDGL
    budget = None if args.full else max(checkpoints)
    out["train"] = run_training(s, w.train, checkpoints, budget, args.timeout)
    out["suggestions"] = add_suggested(s, 5)
    refine = run_training(s, w.refine, (), None, args.timeout)
    refine["oa_gain"] = (None if refine["final_oa"] is None or out["train"]["final_oa"] is None
                         else round(refine["final_oa"] - out["train"]["final_oa"], 4))
    out["refine"] = refine
    same = tuple(sorted({round(refine["seconds"], 2), *checkpoints}))
    out["scratch_same_labels"] = run_training(s, w.train, same, None if args.full else max(same),
                                              args.timeout)
    scratch_at = out["scratch_same_labels"]["at_s"].get(f"{round(refine['seconds'], 2):g}", {})
    out["refine_vs_scratch_same_time"] = {"refine_oa": refine["final_oa"],
                                          "scratch_map_oa": scratch_at.get("map_oa"),
                                          "seconds": refine["seconds"]}
    out["bar"] = {"first_map_after_train_s": 10, "live_map_after_stroke_s": 1,
                  "oa_within_60_s": 0.82, "click_to_first_iteration_s": 3,
                  "refine_round_s": 20, "refine_no_worse_than_scratch": True}  # fmt: skip
    s.viewer.close()
    return out


if __name__ == "__main__":
    print(json.dumps(main()))
