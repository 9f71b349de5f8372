"""Tiled prediction with bounded memory that still matches whole-scene prediction.

SSDGL is trained on whole scenes, and some of its layers pool over the entire image: every
GroupNorm (mean/variance per group) and the channel attention (mean and max per channel; the
squeeze-excitation of FreeNet likewise). A tile has other statistics than the scene, so naive
tiling changes the result a lot (measured on the 64 px synthetic scene with a trained tiny
model: OA 0.977 whole-scene vs 0.67 with 32 px tiles and 0.82 with 48 px tiles).

``scene_stats=True`` removes that error: the scene-wide statistics of each such layer are
accumulated tile by tile over the tiles' cores, one layer per pass in execution order (a
layer's input depends on the statistics of the layers before it), and the final pass runs every
tile with all statistics frozen. Tiles live on the scene zero-padded to a multiple of 16, like
the model's own padding, so the statistics are those of the whole-scene forward pass. What is
left is the receptive field: with ``overlap`` >= 48 px the result matched whole-scene prediction
to < 0.01 in probability in our tests (see tests/prediction/test_inference.py). The price is one
partial forward pass over all tiles per pooled layer (12 for SSDGL), so about 10x the compute of
a single pass. ``scene_stats=False`` is the fast, approximate single pass.

Memory: only one window is materialised at a time. Given ``prepare`` (e.g. clean-up and
z-scoring), the raw scene is read window by window and never copied whole, so the peak beyond
the scene is one window's activations plus the (K, rows, cols) output.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from functools import cache
from typing import Protocol

import numpy as np
import torch
from torch import nn

from napari_ssdgl.models.blocks import PooledGate
from napari_ssdgl.transforms.normalize import clean_and_normalize

MULTIPLE = 16  # models pad to this; tiles on this grid need no internal padding
DEFAULT_OVERLAP = 64  # px of context around a tile's core: >= 48 matched whole-scene prediction


class Prepare(Protocol):
    """Raw (bands, r, c) pixels -> model input, written into ``out`` when given (the in-scene
    part of a window: no second copy) and returned, else returned as a new array."""

    def __call__(self, raw: np.ndarray, out: np.ndarray | None = None) -> np.ndarray: ...


def tile_preparer(mean: np.ndarray, std: np.ndarray, messages: list[str] | None = None
                  ) -> Prepare:
    """The one window preparer of every tiled path (tiled and dask prediction, training
    windows, a windowed run's scoring): reads a raw window of any array (numpy, memory map,
    dask, zarr, HDF5, a BandView), sets NaN/inf to the band's ``mean`` and z-scores it, into
    ``out`` when given; what was replaced is added to ``messages`` when given."""

    def prepare(raw, out: np.ndarray | None = None) -> np.ndarray:
        clean, replaced = clean_and_normalize(np.asarray(raw), mean, std, out=out)
        if messages is not None:
            messages.extend(replaced)
        return clean

    return prepare


def logits(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Dense logits, through the model's folded head when it has one (same values, less work:
    see ``EncoderDecoder.folded_logits``)."""
    fast = getattr(model, "folded_logits", None)
    return fast(x) if fast is not None else model(x)


def ceil_to(n: int, multiple: int = MULTIPLE) -> int:
    """``n`` rounded up to a multiple of ``multiple``: tiles and TIFF tiles live on that grid."""
    return -(-n // multiple) * multiple


@dataclass(frozen=True)
class Window:
    """A model input window and, inside it, the core whose output is kept (padded-grid coords)."""

    rows: tuple[int, int]
    cols: tuple[int, int]
    core_rows: tuple[int, int]
    core_cols: tuple[int, int]

    def core_in_window(self, stride: int = 1) -> tuple[slice, slice]:
        r0, c0 = self.rows[0], self.cols[0]
        return (
            slice((self.core_rows[0] - r0) // stride, (self.core_rows[1] - r0) // stride),
            slice((self.core_cols[0] - c0) // stride, (self.core_cols[1] - c0) // stride),
        )


def plan_windows(rows: int, cols: int, tile_size: int, overlap: int,
                 box: tuple[int, int, int, int] | None = None) -> list[Window]:
    """Windows of at most ``tile_size`` covering the scene padded to a multiple of 16.

    ``tile_size`` and ``overlap`` are rounded up to multiples of 16; each window is its core plus
    ``overlap`` of context on every side that has neighbours. ``box`` (row0, row1, col0, col1):
    the cores cover only that part of the scene (widened to the 16 px grid), starting at its
    corner, and their context reaches into the scene around it; e.g. a region in view needs
    only the windows of its own size, not every scene tile it touches.
    """
    if overlap < 0:
        raise ValueError(f"overlap must be >= 0, got {overlap}")
    tile, ov = ceil_to(int(tile_size)), ceil_to(int(overlap))
    core = tile - 2 * ov
    if core < MULTIPLE:
        raise ValueError(
            f"tile_size {tile_size} leaves no core with an overlap of {overlap} on each side; "
            f"use tile_size >= 2 * overlap + {MULTIPLE}"
        )
    pr, pc = ceil_to(rows), ceil_to(cols)
    br0, br1, bc0, bc1 = box if box is not None else (0, rows, 0, cols)
    br0, bc0 = max(0, br0) // MULTIPLE * MULTIPLE, max(0, bc0) // MULTIPLE * MULTIPLE
    br1, bc1 = min(pr, ceil_to(br1)), min(pc, ceil_to(bc1))
    out = []
    for r in range(br0, br1, core):
        for c in range(bc0, bc1, core):
            r1, c1 = min(r + core, br1), min(c + core, bc1)
            rows_ = (max(0, r - ov), min(pr, r1 + ov))
            cols_ = (max(0, c - ov), min(pc, c1 + ov))
            out.append(Window(rows_, cols_, (r, r1), (c, c1)))
    return out


def window_input(raw: np.ndarray, w: Window, prepare: Prepare | None = None) -> torch.Tensor:
    """Model input (1, bands, h, w) of window ``w`` from ``raw``, its pixels inside the scene:
    ``prepare``d, then zero-filled past the scene edge (the model's own padding of a normalised
    scene). The one window builder of the tiled and the dask paths."""
    (r0, r1), (c0, c1) = w.rows, w.cols
    part = np.zeros((raw.shape[0], r1 - r0, c1 - c0), dtype=np.float32)
    view = part[:, : raw.shape[1], : raw.shape[2]]
    if prepare is None:
        view[...] = raw
    else:
        done = prepare(raw, out=view)
        if done is not view:  # a prepare that made its own array
            view[...] = done
    return torch.from_numpy(part)[None]


def _window_data(x: np.ndarray, w: Window, prepare: Prepare | None = None) -> torch.Tensor:
    """Model input of window ``w`` of the scene ``x`` (bands, rows, cols)."""
    (r0, r1), (c0, c1) = w.rows, w.cols
    return window_input(x[:, r0 : min(r1, x.shape[1]), c0 : min(c1, x.shape[2])], w, prepare)


class StopPass(Exception):
    """Raised inside a hook once the layer being measured has seen its input: the rest of that
    forward pass is not needed."""


Partial = tuple[np.ndarray, np.ndarray, int]  # (sum, sum of squares or max, count), numpy


class SceneStatistics:
    """Forward hooks on a model's pooled layers (GroupNorm, PooledGate) that accumulate
    scene-wide statistics window by window, then impose them, one layer at a time.

    Protocol, as :meth:`measure` runs it in one process and :mod:`.dask_predict` across dask
    tasks: :meth:`execution_order` on a first forward pass; then for each layer in that order,
    :meth:`accumulate` it over every window (or :meth:`add` the :meth:`take_partial` sums that
    other processes accumulated) and :meth:`freeze` it. Layers in ``frozen`` use the stored
    statistics from then on; :meth:`export_frozen` and :meth:`impose` carry them to other
    processes. :meth:`close` (or leaving a ``with`` block) removes the hooks.
    """

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.layers = [m for m in model.modules() if isinstance(m, (nn.GroupNorm, PooledGate))]
        self.frozen: dict[nn.Module, tuple | torch.Tensor] = {}
        self._names = {m: n for n, m in model.named_modules()}
        self._order: list[nn.Module] | None = None  # recording, during execution_order only
        self._acc: list | None = None  # running sums of the layer being measured
        self._target: nn.Module | None = None
        self._window: Window | None = None
        self.handles = [m.register_forward_hook(self._hook) for m in self.layers]

    def close(self) -> None:
        for h in self.handles:
            h.remove()

    def __enter__(self) -> SceneStatistics:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- statistics of the core region ------------------------------------------------------
    def _core(self, x: torch.Tensor) -> torch.Tensor:
        w = self._window
        stride = (w.rows[1] - w.rows[0]) // x.shape[-2]
        rs, cs = w.core_in_window(stride)
        return x[..., rs, cs].double()

    def _part(self, module: nn.Module, x: torch.Tensor) -> list:
        core = self._core(x)
        if isinstance(module, nn.GroupNorm):
            g = core.reshape(core.shape[0], module.num_groups, -1)
            return [g.sum(-1), (g * g).sum(-1), g.shape[-1]]
        return [core.sum((2, 3)), core.amax((2, 3)), core.shape[2] * core.shape[3]]

    def _merge(self, module: nn.Module, part: list) -> None:
        """Add one window's sums to the running ones (maxima for a PooledGate's max)."""
        if self._acc is None:
            self._acc = part
            return
        s, t, n = self._acc
        t = t + part[1] if isinstance(module, nn.GroupNorm) else torch.maximum(t, part[1])
        self._acc = [s + part[0], t, n + part[2]]

    # -- the protocol -----------------------------------------------------------------------
    def execution_order(self, forward: Callable[[], object]) -> list[nn.Module]:
        """The pooled layers in the order ``forward`` (one pass, nothing frozen) runs them: a
        layer's input depends on the statistics of the layers before it."""
        self._order = []
        try:
            forward()
        finally:
            order, self._order = self._order, None
        if len(order) != len(self.layers):
            raise RuntimeError("a pooled layer was not used or used twice in one forward pass")
        return order

    def accumulate(self, layer: nn.Module, window: Window, forward: Callable[[], object]) -> None:
        """Run ``forward`` (the pass of ``window``) until ``layer`` has added the sums over the
        window's core to the running ones; the rest of the pass is skipped."""
        before, self._target, self._window = self._acc, layer, window
        try:
            forward()
        except StopPass:
            pass
        finally:
            self._target = self._window = None
        if self._acc is before:
            raise RuntimeError(f"layer {self._names[layer]} saw no input in window {window}")

    def take_partial(self) -> Partial:
        """The running sums as numpy, for another process to :meth:`add`; clears them."""
        s, t, n = self._acc
        self._acc = None
        return s.cpu().numpy(), t.cpu().numpy(), int(n)

    def add(self, layer: nn.Module, part: Partial) -> None:
        """Add sums that another process accumulated (:meth:`take_partial`) for ``layer``."""
        s, t, n = part
        self._merge(layer, [torch.from_numpy(s), torch.from_numpy(t), n])

    def freeze(self, module: nn.Module) -> None:
        """Turn the running sums into ``module``'s fixed statistics; clears the sums."""
        s, t, n = self._acc
        mean = s / n
        if isinstance(module, nn.GroupNorm):
            var = (t / n - mean * mean).clamp_min(0)
            self.frozen[module] = (mean.float(), torch.rsqrt(var + module.eps).float())
        else:
            self.frozen[module] = self._gate(module, mean.float(), t.float())
        self._acc = None

    def export_frozen(self) -> dict[str, np.ndarray | tuple[np.ndarray, ...]]:
        """The frozen statistics by module name, as numpy: what :meth:`impose` takes."""
        return {self._names[m]: (tuple(v.cpu().numpy() for v in value)
                                 if isinstance(value, tuple) else value.cpu().numpy())
                for m, value in self.frozen.items()}

    def impose(self, frozen: dict, device: torch.device) -> None:
        """Freeze layers to statistics measured elsewhere (:meth:`export_frozen`)."""
        for name, value in frozen.items():
            module = self.model.get_submodule(name)
            if isinstance(value, tuple):
                self.frozen[module] = tuple(torch.from_numpy(v).to(device) for v in value)
            else:
                self.frozen[module] = torch.from_numpy(value).to(device)

    @staticmethod
    def _gate(module: nn.Module, mean: torch.Tensor, mx: torch.Tensor) -> torch.Tensor:
        """The module's multiplicative gate for pooled (mean, max), read off a 2-pixel probe
        whose mean and max are exactly these (out = probe * gate)."""
        probe = torch.stack([mx, 2 * mean - mx], dim=-1)[..., None, :]  # (N, C, 1, 2)
        out = module.forward(probe)
        use_first = probe[..., 0].abs() >= probe[..., 1].abs()
        num = torch.where(use_first, out[..., 0], out[..., 1])
        den = torch.where(use_first, probe[..., 0], probe[..., 1])
        gate = torch.where(den != 0, num / torch.where(den != 0, den, 1), 0)
        return gate[..., None].float()  # (N, C, 1, 1)

    def _apply(self, module: nn.Module, x: torch.Tensor) -> torch.Tensor:
        if isinstance(module, nn.GroupNorm):
            mean, rstd = self.frozen[module]
            n, c = x.shape[:2]
            g = x.reshape(n, module.num_groups, -1)
            y = ((g - mean[..., None]) * rstd[..., None]).reshape(x.shape)
            if module.affine:
                y = y * module.weight.view(1, c, 1, 1) + module.bias.view(1, c, 1, 1)
            return y
        return x * self.frozen[module].to(x.dtype)

    def _hook(self, module, inputs, output):
        if self._order is not None and module not in self._order:
            self._order.append(module)
        if module in self.frozen:
            return self._apply(module, inputs[0])
        if module is self._target:
            self._merge(module, self._part(module, inputs[0]))
            raise StopPass
        return None

    # -- passes -----------------------------------------------------------------------------
    def measure(self, model: nn.Module, windows: list[Window], fetch) -> None:
        """Find the layers' execution order, then measure each layer over every window."""
        for layer in self.execution_order(lambda: logits(model, fetch(windows[0]))):
            for w in windows:
                self.accumulate(layer, w, lambda w=w: logits(model, fetch(w)))
            self.freeze(layer)


def frozen_statistics(model: nn.Module, frozen: dict | None,
                      device: torch.device) -> AbstractContextManager:
    """A context in which ``model``'s pooled layers use the fixed statistics ``frozen``
    (:meth:`SceneStatistics.export_frozen`'s form, e.g. a window-trained model's
    ``Classifier.layer_statistics``), so every pixel depends only on its receptive field and
    one pass of tiles equals the whole scene; a no-op for ``frozen`` None."""
    if frozen is None:
        return nullcontext()
    stats = SceneStatistics(model)
    stats.impose(frozen, device)
    return stats


def _stitch(model, x: np.ndarray, windows: list[Window], dev, prepare: Prepare | None = None,
            labels: bool = False):
    """The windows' cores put together: (K, rows, cols) probabilities, or with ``labels`` the
    (rows, cols) int32 index of the most probable class (K times less memory)."""
    rows, cols = x.shape[1:]
    out: np.ndarray | None = None
    for w in windows:
        window = _window_data(x, w, prepare).to(dev)
        probs = torch.softmax(logits(model, window).float(), dim=1)[0]
        rs, cs = w.core_in_window()
        core = (slice(w.core_rows[0], w.core_rows[1]), slice(w.core_cols[0], w.core_cols[1]))
        if labels:  # of the probabilities, as a class map from them would be (ties alike)
            if out is None:
                out = np.zeros((ceil_to(rows), ceil_to(cols)), dtype=np.int32)
            out[core] = probs.argmax(0).cpu().numpy()[rs, cs]
            continue
        probs = probs.cpu().numpy()
        if out is None:
            # zeros: cores left out (``predict_tiled``'s ``needed``) stay 0
            out = np.zeros((probs.shape[0], ceil_to(rows), ceil_to(cols)), dtype=np.float32)
        out[(slice(None), *core)] = probs[:, rs, cs]
    assert out is not None
    return out[..., :rows, :cols]


@cache
def return_freed_memory() -> None:
    """Let glibc give freed window-sized buffers back to the OS: once per process, by the
    first tiled prediction (the setting is process-wide, so previews and scoring need not
    repeat it). glibc's default (a dynamic mmap threshold) keeps them on the heap after the
    first few, so a process that works window after window creeps upwards: peak RSS 2.84 GB
    without, 1.79 and 2.09 GB with it in two runs (one-pass threads prediction of the 2048 x
    2048 x 200 mosaic, benchmarks/big_scene.py; 1528 and 1067 MB at 512 x 512,
    dask_scaleout.py). It is the setting dask's nanny gives every worker process
    (MALLOC_TRIM_THRESHOLD_=65536)."""
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            ctypes.CDLL("libc.so.6").mallopt(-1, 65536)  # M_TRIM_THRESHOLD
        except (OSError, AttributeError):  # not glibc (musl, ...): nothing to do
            pass


def predict_tiled(
    model: nn.Module,
    x: np.ndarray,
    tile_size: int,
    overlap: int,
    device: torch.device,
    scene_stats: bool = True,
    prepare: Prepare | None = None,
    frozen: dict | None = None,
    needed: np.ndarray | None = None,
    labels: bool = False,
    box: tuple[int, int, int, int] | None = None,
) -> np.ndarray:
    """(K, rows, cols) probabilities from overlapping windows (call under inference_mode).

    ``prepare`` (optional) turns each raw window of ``x`` into model input, so that ``x`` may
    be the raw scene (even a memory map) and is never normalised as a whole. ``frozen``: the
    model's own fixed layer statistics (a window-trained model): one pass, no measuring; then
    ``needed`` (a (rows, cols) mask, optional) skips the tiles whose core holds no needed
    pixel, leaving their output 0 (scoring a big scene on its labelled pixels only), ``box``
    (row0, row1, col0, col1) maps only that part, on a grid of its own (``plan_windows``: a
    preview of the part in view in fewer windows than the scene tiles it touches; the rest is
    0), and ``labels`` returns only the (rows, cols) index of the most probable class.
    """
    return_freed_memory()
    if frozen is not None:
        windows = plan_windows(x.shape[1], x.shape[2], tile_size, overlap, box)
        if needed is not None:
            windows = [w for w in windows if needed[w.core_rows[0]: w.core_rows[1],
                                                    w.core_cols[0]: w.core_cols[1]].any()]
            if not windows:
                raise ValueError("no pixel is needed")
        with frozen_statistics(model, frozen, device):
            return _stitch(model, x, windows, device, prepare, labels)
    if labels or box is not None:
        raise ValueError("labels and box need frozen statistics")
    windows = plan_windows(x.shape[1], x.shape[2], tile_size, overlap)
    if not scene_stats:
        return _stitch(model, x, windows, device, prepare)
    with SceneStatistics(model) as stats:
        stats.measure(model, windows, lambda w: _window_data(x, w, prepare).to(device))
        return _stitch(model, x, windows, device, prepare)


def check_layer_statistics(model: nn.Module, frozen: dict, bands: int) -> None:
    """ValueError unless ``frozen`` holds statistics of the right size for every pooled layer
    of ``model`` (``bands`` input bands) and for nothing else: a missing layer would pool over
    each tile again, and a size-1 entry would broadcast silently instead of failing."""
    pooled = {n: m for n, m in model.named_modules() if isinstance(m, (nn.GroupNorm, PooledGate))}
    missing, extra = sorted(set(pooled) - set(frozen)), sorted(set(frozen) - set(pooled))
    if missing or extra:
        raise ValueError(f"they must cover exactly the network's {len(pooled)} pooled layers "
                         f"(missing: {missing[:3] or 'none'}, unknown: {extra[:3] or 'none'})")
    channels: dict[str, int] = {}
    hooks = [m.register_forward_hook(
        lambda _m, inputs, _o, n=n: channels.__setitem__(n, int(inputs[0].shape[1])))
        for n, m in pooled.items()]
    try:
        with torch.inference_mode():
            logits(model, torch.zeros(1, int(bands), MULTIPLE, MULTIPLE))
    finally:
        for h in hooks:
            h.remove()
    for name, module in pooled.items():
        value = frozen[name]
        if isinstance(module, nn.GroupNorm):
            ok = isinstance(value, tuple) and all(np.asarray(v).size == module.num_groups
                                                 for v in value)
            want = f"{module.num_groups} group mean and rstd values"
        else:
            ok = not isinstance(value, tuple) and np.asarray(value).size == channels.get(name)
            want = f"a gate of {channels.get(name)} channels"
        if not ok:
            raise ValueError(f"layer {name!r} needs {want}")


def statistics_to_json(frozen: dict | None) -> dict | None:
    """``frozen`` layer statistics (:meth:`SceneStatistics.export_frozen` form) as JSON values
    for ``model.json``: ``{layer: {"mean": [...], "rstd": [...]}}`` for a GroupNorm (one value
    per group), ``{layer: {"gate": [...]}}`` for a pooled gate (one per channel). float32
    values survive the round trip through JSON's float64 exactly."""
    if frozen is None:
        return None
    out = {}
    for name, value in frozen.items():
        if isinstance(value, tuple):
            mean, rstd = value
            out[name] = {"mean": np.asarray(mean).ravel().tolist(),
                         "rstd": np.asarray(rstd).ravel().tolist()}
        else:
            out[name] = {"gate": np.asarray(value).ravel().tolist()}
    return out


def statistics_from_json(obj) -> dict | None:
    """The inverse of :func:`statistics_to_json`; a ValueError says what is wrong."""
    if obj is None:
        return None
    if not isinstance(obj, dict):
        raise ValueError("an object of layer statistics expected")

    def numbers(name: str, key: str, values) -> np.ndarray:
        arr = np.asarray(values, dtype=np.float64) if isinstance(values, list) else None
        if arr is None or arr.ndim != 1 or arr.size == 0 or not np.all(np.isfinite(arr)):
            raise ValueError(f"layer {name!r}: {key} must be a non-empty list of finite numbers")
        return arr.astype(np.float32)

    out: dict = {}
    for name, value in obj.items():
        if isinstance(value, dict) and set(value) == {"mean", "rstd"}:
            mean, rstd = numbers(name, "mean", value["mean"]), numbers(name, "rstd", value["rstd"])
            if mean.size != rstd.size:
                raise ValueError(f"layer {name!r}: mean and rstd differ in length")
            out[name] = (mean[None], rstd[None])
        elif isinstance(value, dict) and set(value) == {"gate"}:
            out[name] = numbers(name, "gate", value["gate"])[None, :, None, None]
        else:
            raise ValueError(f"layer {name!r}: an object with mean and rstd, or with gate, "
                             "expected")
    return out
