"""A one-page PNG report of a run: class map beside ground truth, confusion heat map, curve.

So a person can look instead of read: where the map is wrong, which classes are confused, and
whether training converged. Without a training history (``evaluate``) the last panel shows the
per-class accuracy instead. Drawn on matplotlib's Agg canvas (no pyplot, no display needed).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from napari_ssdgl.io.atomic import atomic_output
from napari_ssdgl.io.exports import class_palette, colorize, label_values, legend_handles

__all__ = ["write_report"]

ANNOTATE_MAX_CLASSES = 20  # beyond this the confusion cells are too small to print numbers in


def _map_panel(ax, labels: np.ndarray, palette: dict, title: str) -> None:
    ax.imshow(colorize(labels, palette), interpolation="nearest")
    ax.set_title(title, fontsize=10)
    ax.set_axis_off()


def _confusion_panel(fig, ax, metrics: dict, class_names: dict) -> None:
    cm = np.asarray(metrics["confusion"], dtype=np.float64)
    values = list(metrics["class_values"])
    rows = cm.sum(axis=1, keepdims=True)
    share = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)
    im = ax.imshow(share, cmap="Blues", vmin=0, vmax=1, interpolation="nearest")
    ticks = range(len(values))
    ax.set_xticks(ticks, [str(v) for v in values], fontsize=7, rotation=90)
    ax.set_yticks(ticks, [f"{v} {class_names.get(v, '')}".strip()[:24] for v in values],
                  fontsize=7)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title("Confusion (row-normalised; numbers: % of the true class)", fontsize=10)
    if len(values) <= ANNOTATE_MAX_CLASSES:
        for i in ticks:
            for j in ticks:
                if cm[i, j]:
                    ax.text(j, i, f"{100 * share[i, j]:.0f}", ha="center", va="center",
                            fontsize=6, color="white" if share[i, j] > 0.5 else "black")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)


def _curve_panel(ax, history: dict) -> None:
    it = history["iteration"]
    ax.plot(it, history["loss"], color="tab:red", lw=1, label="loss")
    ax.set_xlabel("iteration")
    ax.set_ylabel("loss", color="tab:red")
    ax.set_ylim(bottom=0)
    acc = ax.twinx()
    acc.plot(it, history["train_accuracy"], color="tab:blue", lw=0.8, alpha=0.6,
             label="train accuracy (drawn pixels)")
    if history.get("eval_iteration"):
        acc.plot(history["eval_iteration"], history["eval_oa"], "o-", color="tab:green",
                 ms=3, label="test OA")
    acc.set_ylim(0, 1.02)
    acc.set_ylabel("accuracy")
    acc.legend(loc="center right", fontsize=8)
    ax.set_title("Training curve", fontsize=10)


def _per_class_panel(ax, metrics: dict, class_names: dict, palette: dict) -> None:
    items = sorted(metrics["per_class"].items(), key=lambda kv: int(kv[0]))
    values = [int(k) for k, _ in items]
    ax.barh(range(len(values)), [100 * a for _, a in items],
            color=[palette.get(v, "0.5") for v in values], edgecolor="0.3")
    ax.set_yticks(range(len(values)),
                  [f"{v} {class_names.get(v, '')}".strip()[:24] for v in values], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel("accuracy (%)")
    ax.set_title("Per-class accuracy (no training history)", fontsize=10)


def write_report(path: str | Path, prediction: np.ndarray, ground_truth: np.ndarray,
                 metrics: dict, *, history: dict | None = None,
                 class_names: dict | None = None, colors: dict | None = None,
                 title: str | None = None) -> Path:
    """Write the report PNG; ``metrics`` is a :func:`~.metrics.classification_metrics`
    dict, ``history`` a :meth:`~napari_ssdgl.workflows.progress.History.to_dict` (optional)."""
    from matplotlib.figure import Figure

    names = {int(k): v for k, v in (class_names or {}).items()}
    palette = class_palette(label_values(prediction, metrics.get("class_values"))
                            | label_values(ground_truth), colors)
    fig = Figure(figsize=(13, 11), dpi=100, layout="constrained")
    axes = fig.subplots(2, 2)
    summary = f"OA {100 * metrics['oa']:.2f} %  AA {100 * metrics['aa']:.2f} %  " \
              f"kappa {metrics['kappa']:.4f}  ({metrics['n_test']} test pixels)"
    fig.suptitle(f"{title}\n{summary}" if title else summary, fontsize=12)
    _map_panel(axes[0, 0], prediction, palette, "Predicted class map")
    _map_panel(axes[0, 1], ground_truth, palette, "Ground truth (black: unlabelled)")
    axes[0, 1].legend(handles=legend_handles(palette, names), loc="upper left",
                      bbox_to_anchor=(1.02, 1.0), fontsize=7, frameon=False)
    _confusion_panel(fig, axes[1, 0], metrics, names)
    if history and history.get("iteration"):
        _curve_panel(axes[1, 1], history)
    else:
        _per_class_panel(axes[1, 1], metrics, names, palette)
    path = Path(path)
    with atomic_output(path, overwrite=True, keep_suffix=True) as tmp:  # complete or absent
        fig.savefig(tmp, format=path.suffix.lower().lstrip(".") or "png", facecolor="white",
                    bbox_inches="tight", pad_inches=0.2)
    return path
