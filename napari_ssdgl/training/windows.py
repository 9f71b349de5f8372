"""Windowed training for scenes larger than a window: which windows, which pixels, which statistics.

A scene larger than ``TrainConfig.window`` in either direction is not run whole: each iteration
takes ``windows_per_batch`` square windows (one batch, every window its own GroupNorm and
attention statistics), read lazily from the cube, and the H-B draw is taken among the training
pixels inside them. So an iteration costs the same whatever the scene's size.

Placement (:class:`WindowSampler`): each window is *anchored* on one training pixel of one class,
the classes taken in turn from a reshuffled cycle, so every class anchors a window equally often
however few pixels or however small an area it has (the H-B balance, one level up: a window
placed uniformly over a flight line would almost never hold the rare classes); the anchor lies
at a uniformly random position inside its window (random offsets: a pixel is seen with
different context and never always at the same border, and the windows of a class vary). The
draw then takes ``min(per_class, n)`` of the ``n`` training pixels of each class inside the
windows (a pixel in two windows counts once, in the first). The class weights stay those of the
whole training set. The draw is padded to a fixed size with masked entries (weight 0 in the
loss), so every iteration has the same shapes, as CUDA graphs need.

Normalisation (:func:`calibrate`): trained per window, a model's pooled layers have no single
"scene" statistic, so after training (and at every evaluation) they are fixed to the mean over a
fixed set of calibration windows of each window's own statistics, layer by layer in execution
order with the layers before frozen (the statistics the frozen network itself sees), all in one
forward pass of the windows, each layer fixed as the pass reaches it. Prediction
uses these everywhere (``Classifier.layer_statistics``): every pixel then depends only on its
receptive field, and one pass of overlapping tiles equals the whole-scene map away from the tile
borders, with no statistics passes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from napari_ssdgl.prediction.tiling import MULTIPLE, SceneStatistics, logits, tile_preparer

WINDOW = 160
"""Default window (px). Indian Pines (145 px) fits one, so it trains whole as before; and an
iteration of one 160 px window costs what an iteration on a 160 px scene costs, whatever the
size of the scene it comes from."""
WINDOWS_PER_BATCH: int | None = None
"""Default windows per iteration: None = chosen from the labels by :func:`choose_layout` (one
window, or for sparse labels several smaller ones at about the same cost). One window is one
Indian Pines-size step (per-window GroupNorm needs no batch); more windows see more classes per
step at a proportional cost."""
SPARSE_SHARE = 0.5
"""Labels are *sparse* for :func:`choose_layout` when one window holds fewer than this share of
the classes on average (an analyst's first strokes on a big scene: about 1 of 16 classes per
160 px window; the 5 % protocol on the Indian Pines mosaic: 15 of 16)."""
SPARSE_WINDOWS = 3
"""Windows per iteration :func:`choose_layout` takes for sparse labels, each of about
1/sqrt(3) the side (3 x 96 px for 160 px: 8 % more area), anchored on 3 different classes."""
MIN_SPLIT_SIDE = 64
"""No window is split into sides smaller than this: context is what a small window loses
(Indian Pines in 64 px windows, 1 per iteration: 19 points below whole-scene training)."""
CALIBRATION_WINDOWS = 8
"""Windows, fixed once per run, whose mean statistics a window-trained model is frozen to."""


def window_shape(shape: tuple[int, int], window: int) -> tuple[int, int]:
    """The (rows, cols) of a training window on a scene of ``shape``: ``window`` each way, or
    the scene's extent where it is smaller."""
    return min(int(window), int(shape[0])), min(int(window), int(shape[1]))


def is_windowed(shape: tuple[int, int], window: int | None) -> bool:
    """True when a scene of ``shape`` trains in windows: larger than ``window`` either way. A
    scene that fits one window trains whole, exactly as without windows."""
    return bool(window) and (shape[0] > window or shape[1] > window)


def check_window(window: int | None, per_batch: int | None) -> None:
    """ValueError unless ``window`` is None/0 or a multiple of 16 >= 32 and ``per_batch`` is
    None (chosen from the labels) or >= 1."""
    if window and (int(window) != window or window < 2 * MULTIPLE or window % MULTIPLE):
        raise ValueError(f"window must be a multiple of {MULTIPLE} and >= {2 * MULTIPLE} px "
                         f"(or empty for whole-scene training), got {window}")
    if per_batch is not None and (int(per_batch) != per_batch or per_batch < 1):
        raise ValueError(f"windows per batch must be a positive integer, got {per_batch}")


@dataclass(frozen=True)
class WindowLayout:
    """What a windowed run trains on per iteration: ``per_batch`` windows of ``window`` px, and
    why (for the dock's status line and the CLI's log)."""

    window: int
    per_batch: int
    reason: str


def classes_per_window(encoded: np.ndarray, window: tuple[int, int], seed: int = 0,
                       draws: int = 64) -> float:
    """Mean number of classes with a training pixel in one window placed as training places it
    (anchored on a training pixel, classes in turn), over ``draws`` windows of a random stream
    of its own: the labels alone, no pixel of the cube is read."""
    sampler = WindowSampler(encoded, window, 1, None, seed=seed, stream=5)
    (wh, ww) = sampler.window
    inside = (sampler.encoded[r0 : r0 + wh, c0 : c0 + ww] for r0, c0 in sampler.origins(draws))
    seen = [np.unique(w[w >= 0]).size for w in inside]  # a fully labelled window too
    return float(np.mean(seen))


def choose_layout(encoded: np.ndarray, shape: tuple[int, int], window: int,
                  seed: int = 0) -> WindowLayout:
    """Windows per iteration when the user leaves it to the labels: one ``window`` px window;
    or, when the labels are sparse (one window holds under :data:`SPARSE_SHARE` of the classes
    on average, :func:`classes_per_window`), :data:`SPARSE_WINDOWS` windows of about
    1/sqrt(SPARSE_WINDOWS) the side, so each step sees several classes for about the same cost
    (benchmarks/README.md, "Sparse labels on a big scene"). A window that would split below
    :data:`MIN_SPLIT_SIDE` px stays whole."""
    window = int(window)
    k = int(np.asarray(encoded).max()) + 1
    seen = classes_per_window(encoded, window_shape(shape, window), seed)
    held = f"a {window} px window holds {seen:.1f} of {k} classes on average"
    side = int(round(window / np.sqrt(SPARSE_WINDOWS) / MULTIPLE)) * MULTIPLE
    if seen >= SPARSE_SHARE * k or side < MIN_SPLIT_SIDE:
        return WindowLayout(window, 1, held)
    return WindowLayout(side, SPARSE_WINDOWS, f"sparse labels ({held}): {SPARSE_WINDOWS} "
                                              f"windows of {side} px see more per step")


@dataclass
class WindowBatch:
    """One iteration's windows and draw. ``origins`` (n, 2) top-left (row, col) of each window;
    ``index`` flat indices into the (n, rows, cols) window grid; ``target`` their class indices;
    ``mask`` 1 for drawn pixels, 0 for the padding that keeps the size fixed."""

    origins: np.ndarray
    index: np.ndarray
    target: np.ndarray
    mask: np.ndarray

    @property
    def drawn(self) -> int:
        return int(self.mask.sum())


class WindowSampler:
    """Windows anchored on training pixels (classes in turn) and the H-B draw inside them."""

    def __init__(self, encoded: np.ndarray, window: tuple[int, int], per_batch: int,
                 per_class: int | None, seed: int = 0, stream: int = 3) -> None:
        """``encoded``: (rows, cols) class indices, -1 where no pixel trains; ``stream``: the
        seed's random stream (the calibration windows draw from another one)."""
        self.encoded = np.asarray(encoded)
        self.shape = self.encoded.shape
        self.window = (int(window[0]), int(window[1]))
        self.per_batch = int(per_batch)
        self.per_class = int(per_class) if per_class else None
        flat = self.encoded.ravel()
        k = int(flat.max()) + 1 if flat.size else 0
        self.pixels = [np.flatnonzero(flat == c) for c in range(k)]
        self.rng = np.random.default_rng([seed, stream])  # its own stream
        self._cycle: list[int] = []
        wh, ww = self.window
        counts = np.array([p.size for p in self.pixels])
        cap = counts.sum() if self.per_class is None else np.minimum(counts, self.per_class).sum()
        self.draw_size = int(min(cap, self.per_batch * wh * ww))  # fixed: padded up to it

    def _next_class(self) -> int:
        if not self._cycle:
            self._cycle = [int(c) for c in self.rng.permutation(len(self.pixels))]
        return self._cycle.pop()

    def anchor(self, pixel: int) -> tuple[int, int]:
        """Top-left of a window holding flat ``pixel`` at a random position, inside the scene."""
        (h, w), (wh, ww) = self.shape, self.window
        r, c = divmod(int(pixel), w)
        r0 = int(np.clip(r - self.rng.integers(wh), 0, h - wh))
        c0 = int(np.clip(c - self.rng.integers(ww), 0, w - ww))
        return r0, c0

    def origins(self, n: int | None = None) -> np.ndarray:
        """(n, 2) window origins, each anchored on a random pixel of the next class in turn."""
        out = []
        for _ in range(self.per_batch if n is None else n):
            pix = self.pixels[self._next_class()]
            out.append(self.anchor(int(pix[self.rng.integers(pix.size)])))
        return np.asarray(out, dtype=np.int64).reshape(-1, 2)

    def draw(self) -> WindowBatch:
        """This iteration's windows and up to ``per_class`` training pixels of each class in
        them, shuffled and padded (mask 0) to :attr:`draw_size`."""
        origins = self.origins()
        (wh, ww), w = self.window, self.shape[1]
        glob, local, cls = [], [], []
        for i, (r0, c0) in enumerate(origins):
            rr, cc = np.nonzero(self.encoded[r0 : r0 + wh, c0 : c0 + ww] >= 0)
            glob.append((rr + r0) * w + (cc + c0))
            local.append(i * wh * ww + rr * ww + cc)
            cls.append(self.encoded[rr + r0, cc + c0])
        glob, local, cls = (np.concatenate(a) for a in (glob, local, cls))
        _, first = np.unique(glob, return_index=True)  # a pixel in two windows counts once
        local, cls = local[first], cls[first]
        parts = []
        for c in range(len(self.pixels)):
            mine = local[cls == c]
            if self.per_class is not None and mine.size > self.per_class:
                mine = self.rng.choice(mine, self.per_class, replace=False)
            parts.append(mine)
        index = self.rng.permutation(np.concatenate(parts)).astype(np.int64)
        rows, cols = (index % (wh * ww)) // ww, index % ww
        n = index // (wh * ww)
        target = self.encoded[origins[n, 0] + rows, origins[n, 1] + cols].astype(np.int64)
        pad = self.draw_size - index.size
        mask = np.concatenate([np.ones(index.size, np.float32), np.zeros(pad, np.float32)])
        if pad:  # any valid pixel and class: their weight in the loss is 0
            index = np.concatenate([index, np.zeros(pad, np.int64)])
            target = np.concatenate([target, np.zeros(pad, np.int64)])
        return WindowBatch(origins, index, target, mask)


def read_windows(source, origins: np.ndarray, window: tuple[int, int], mean: np.ndarray,
                 std: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """(n, bands, rows, cols) float32 model input of the windows at ``origins`` of ``source``
    (any (bands, rows, cols) array that slices lazily: numpy, memory map, dask, zarr): each
    window read alone, NaN/inf set to the band's ``mean``, z-scored. Returns the batch and the
    clean-up messages."""
    wh, ww = window
    out = np.empty((len(origins), int(source.shape[0]), wh, ww), dtype=np.float32)
    messages: list[str] = []
    prepare = tile_preparer(mean, std, messages)
    for i, (r0, c0) in enumerate(origins):
        prepare(source[:, int(r0) : int(r0) + wh, int(c0) : int(c0) + ww], out=out[i])
    return out, messages


class _WindowMeans(SceneStatistics):
    """SceneStatistics that averages each window's own statistics over a batch of windows
    (what per-window training normalised with), instead of pooling them as one scene. With
    ``in_one_pass`` each layer is measured and fixed as a pass reaches it (:func:`calibrate`)."""

    in_one_pass = False

    def _hook(self, module, inputs, output):
        if self.in_one_pass and module not in self.frozen:
            self._merge(module, self._part(module, inputs[0]))
            self.freeze(module)  # and the hook below applies it to this very output
        return super()._hook(module, inputs, output)

    def _part(self, module: nn.Module, x: torch.Tensor) -> list:
        x = x.double()
        if isinstance(module, nn.GroupNorm):
            g = x.reshape(x.shape[0], module.num_groups, -1)
            return [g.mean(-1).sum(0, keepdim=True), g.var(-1, unbiased=False).sum(0, keepdim=True),
                    x.shape[0]]
        return [x.mean((2, 3)).sum(0, keepdim=True), x.amax((2, 3)).sum(0, keepdim=True),
                x.shape[0]]

    def _merge(self, module: nn.Module, part: list) -> None:
        if self._acc is None:
            self._acc = part
            return
        self._acc = [a + b for a, b in zip(self._acc, part, strict=True)]

    def freeze(self, module: nn.Module) -> None:
        s, t, n = self._acc
        mean = s / n
        if isinstance(module, nn.GroupNorm):
            self.frozen[module] = (mean.float(), torch.rsqrt(t / n + module.eps).float())
        else:
            self.frozen[module] = self._gate(module, mean.float(), (t / n).float())
        self._acc = None


def calibrate(model: nn.Module, batches: torch.Tensor | list[torch.Tensor]) -> dict:
    """Fixed statistics of ``model``'s pooled layers from windows (one (n, bands, h, w) tensor
    or a list of such batches, all the same h x w): for each layer in execution order, the mean
    over all windows of each window's own statistics of its input, the layers before it already
    fixed. One forward pass of all the windows together does it (each layer is fixed as the
    pass reaches it, so what follows it sees it fixed), not a pass per layer. Returns the
    :meth:`~SceneStatistics.export_frozen` form that ``Classifier.layer_statistics`` keeps."""
    x = batches if isinstance(batches, torch.Tensor) else torch.cat(list(batches))
    was_training = model.training
    model.eval()
    try:
        with _WindowMeans(model) as stats, torch.inference_mode():
            stats.in_one_pass = True
            logits(model, x)
            if len(stats.frozen) != len(stats.layers):
                raise RuntimeError("a pooled layer was not used in the calibration pass")
            return stats.export_frozen()
    finally:
        model.train(was_training)
