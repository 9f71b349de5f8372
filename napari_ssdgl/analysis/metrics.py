"""Accuracy of a class map against ground truth: OA, AA, Cohen's kappa, per-class, confusion,
and the confusions that cost the most.

Only pixels with ``gt > 0`` count (and not those in ``exclude``, e.g. the training pixels).
``pred`` and ``gt`` hold label values (not class indices).
"""

from __future__ import annotations

import numpy as np


def confusion_matrix(pred: np.ndarray, gt: np.ndarray, class_values) -> np.ndarray:
    """(K, K) int64 counts; rows = true class, columns = predicted class, in ``class_values`` order.

    Predictions outside ``class_values`` are errors but land in no column.
    """
    values = np.asarray(class_values, dtype=np.int64)
    k = values.size
    t = np.searchsorted(values, gt)
    p = np.searchsorted(values, pred)
    p_ok = (p < k) & (values[np.clip(p, 0, k - 1)] == pred)
    cm = np.zeros((k, k), dtype=np.int64)
    np.add.at(cm, (t[p_ok], p[p_ok]), 1)
    return cm


def classification_metrics(
    pred: np.ndarray,
    gt: np.ndarray,
    *,
    exclude: np.ndarray | None = None,
    class_values=None,
) -> dict:
    """OA, AA, kappa, per-class accuracy and confusion over the labelled, non-excluded pixels.

    ``class_values`` fixes the confusion-matrix order (default: every value in gt or pred at the
    counted pixels). AA averages the classes that have test pixels. Keys: oa, aa, kappa,
    per_class {value: accuracy}, confusion (list of lists), class_values, n_test.
    """
    pred = np.asarray(pred).astype(np.int64, copy=False)
    gt = np.asarray(gt).astype(np.int64, copy=False)
    if pred.shape != gt.shape:
        raise ValueError(f"prediction shape {pred.shape} differs from ground truth {gt.shape}")
    mask = gt > 0
    if exclude is not None:
        mask &= ~np.asarray(exclude, dtype=bool)
    t, p = gt[mask], pred[mask]
    n = int(t.size)
    if n == 0:
        raise ValueError("no labelled pixels to evaluate (ground truth is all 0 or excluded)")
    present = np.unique(t)
    values = np.unique(np.concatenate([present, p[p > 0]]))
    if class_values is not None:
        values = np.unique(np.concatenate([np.asarray(class_values, dtype=np.int64), values]))
    cm = confusion_matrix(p, t, values)
    oa = float((p == t).sum() / n)
    per_class = {}
    for v in present:
        here = t == v
        per_class[int(v)] = float((p[here] == v).sum() / here.sum())
    true_share = np.array([(t == v).sum() for v in values], dtype=np.float64) / n
    pred_share = np.array([(p == v).sum() for v in values], dtype=np.float64) / n
    pe = float(true_share @ pred_share)
    kappa = 1.0 if pe >= 1.0 else (oa - pe) / (1.0 - pe)
    return {
        "oa": oa,
        "aa": float(np.mean(list(per_class.values()))),
        "kappa": float(kappa),
        "per_class": per_class,
        "confusion": cm.tolist(),
        "class_values": [int(v) for v in values],
        "n_test": n,
    }


def top_confusions(metrics: dict, k: int = 3) -> list[tuple[int, int, int, float]]:
    """The ``k`` largest off-diagonal cells of ``metrics["confusion"]`` as (true value,
    predicted value, pixels, share of the true class's test pixels), most pixels first: where
    the map is wrong, readable without the whole matrix (a 16-class table does not fit a dock)."""
    cm = np.asarray(metrics["confusion"], dtype=np.int64)
    values = [int(v) for v in metrics["class_values"]]
    if cm.size == 0:
        return []
    off = cm.copy()
    np.fill_diagonal(off, 0)
    rows = cm.sum(axis=1)
    order = np.argsort(-off, axis=None, kind="stable")[: max(0, int(k))]
    out = []
    for flat in order:
        i, j = divmod(int(flat), cm.shape[1])
        if off[i, j] == 0:
            break
        out.append((values[i], values[j], int(off[i, j]), float(off[i, j] / rows[i])))
    return out


def confusions_text(metrics: dict, class_names: dict | None = None, k: int = 3) -> str:
    """One line naming the :func:`top_confusions`, e.g. ``Most confused (true → predicted):
    Soybean-mintill (11) → Corn-notill (2), N px (x %); ...`` (x: the share of the true class's
    test pixels), or "" with none: short, as it must fit a dock."""
    names = {int(v): n for v, n in (class_names or {}).items()}

    def name(v: int) -> str:
        return f"{names[v]} ({v})" if names.get(v) else f"class {v}"

    parts = [f"{name(t)} → {name(p)}, {n} px ({100 * share:.1f} %)"
             for t, p, n, share in top_confusions(metrics, k)]
    return f"Most confused (true → predicted): {'; '.join(parts)}." if parts else ""
