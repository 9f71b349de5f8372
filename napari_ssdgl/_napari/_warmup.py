"""Warm the training path up in the background when the dock opens, so Train starts at once.

The first training iteration of a process is far slower than the next ones: the optimiser's
first construction imports ``torch._dynamo``, and the first forward and backward pass of a
network at a given input size sets up its kernels and buffers. None of that depends on the
data, so a throwaway one-iteration run of the dock's model on a random cube of the picked
cube's shape, in a daemon thread while the user paints, moves it off the click. It runs once
per (shape, model settings) and never touches a layer. ``NAPARI_SSDGL_WARMUP=0`` turns it off.
A cube over :data:`MAX_VALUES` gets no throwaway run (a whole-scene iteration on it would cost
memory and minutes of CPU the user did not ask for), only the imports, the largest part of the
lag for a small model.
"""

from __future__ import annotations

import os
import threading

import numpy as np

MAX_VALUES = 1 << 25  # bands x rows x cols: Pavia/Salinas-sized scenes (~2e7) are warmed, not more
_done: set = set()
_lock = threading.Lock()
threads: list[threading.Thread] = []  # the warm-ups started (tests wait on them)


def enabled() -> bool:
    return os.environ.get("NAPARI_SSDGL_WARMUP", "1").strip().lower() not in ("0", "false", "no")


def warm_up(shape: tuple[int, int, int], config) -> threading.Thread | None:
    """Start a one-iteration throwaway run of ``config``'s model on a ``shape`` cube; for a
    cube too big for that, only the imports (:func:`_import_only`)."""
    if not enabled() or len(shape) != 3 or min(shape) < 2:
        return None
    if np.prod(shape) > MAX_VALUES:
        return _start(_import_only, ())
    key = (tuple(int(n) for n in shape), config.model, config.preset,
           repr(sorted((config.model_kwargs or {}).items())), config.device)
    with _lock:
        if key in _done:
            return None
        _done.add(key)
    return _start(_run, (key[0], config))


def _start(target, args: tuple) -> threading.Thread:
    thread = threading.Thread(target=target, args=args, name="ssdgl-warmup", daemon=True)
    threads.append(thread)
    thread.start()
    return thread


def _import_only() -> None:
    """What the first iteration imports whatever the cube: the optimiser's constructor imports
    ``torch._dynamo`` (measured with cProfile: 2.3 of a tiny model's 2.7 s first iteration on
    the loaded 2-core CPU), once per process."""
    with _lock:
        if "imports" in _done:
            return
        _done.add("imports")
    try:
        import torch._dynamo  # noqa: F401
    except Exception:  # an optimisation only
        return


def _run(shape: tuple[int, int, int], config) -> None:
    from dataclasses import replace

    from napari_ssdgl.training import Trainer

    try:
        cube = np.random.default_rng(0).random(shape, dtype=np.float32)
        labels = np.zeros(shape[1:], dtype=np.int32)
        labels[0, :2], labels[-1, -2:] = 1, 2
        cfg = replace(config, iterations=1, eval_every=0, preview_every=0, augment=False)
        for _ in Trainer(cube, labels, cfg).run():
            pass
    except Exception:  # a warm-up is an optimisation only: the real run reports errors
        return
