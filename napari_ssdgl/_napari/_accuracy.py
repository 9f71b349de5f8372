"""Accuracy panel (OA / AA / kappa, the largest confusions, per-class accuracy, confusion
matrix) and its export."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from qtpy.QtCore import Qt
from qtpy.QtGui import QColor
from qtpy.QtWidgets import (
    QFileDialog,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from napari_ssdgl.analysis.metrics import confusions_text


def export_metrics(metrics: dict, path: str | Path, class_names: dict[int, str] | None = None):
    """Write ``metrics`` (from ``classification_metrics``) as JSON or, for ``.csv``, a table.

    The CSV has a summary block (oa, aa, kappa, n_test), then one row per class with its
    accuracy and its confusion-matrix row (true class in rows, predicted in columns).
    """
    from napari_ssdgl.io.atomic import atomic_output

    path = Path(path)
    names = class_names or {}
    values = [int(v) for v in metrics["class_values"]]
    with atomic_output(path, overwrite=True, keep_suffix=True) as tmp:  # complete or absent
        if path.suffix.lower() == ".csv":
            with open(tmp, "w", newline="") as f:
                w = csv.writer(f)
                for key in ("oa", "aa", "kappa", "n_test"):
                    w.writerow([key, metrics[key]])
                w.writerow([])
                w.writerow(["value", "name", "accuracy", *[f"pred {v}" for v in values]])
                for v, row in zip(values, metrics["confusion"], strict=True):
                    acc = metrics["per_class"].get(v, metrics["per_class"].get(str(v), ""))
                    w.writerow([v, names.get(v, f"class {v}"), acc, *row])
        else:
            out = dict(metrics)
            out["per_class"] = {str(k): v for k, v in metrics["per_class"].items()}
            out["class_names"] = {str(v): names.get(v, f"class {v}") for v in values}
            tmp.write_text(json.dumps(out, indent=2))
    return path


def heat(fraction: float, diagonal: bool) -> QColor:
    """Cell colour: dark when empty, brighter with the row's share; green on the diagonal
    (right), red off it (confusions)."""
    f = min(1.0, max(0.0, float(fraction))) ** 0.5
    base, hot = (40, 40, 48), ((70, 200, 90) if diagonal else (230, 70, 60))
    return QColor(*(int(b + (h - b) * f) for b, h in zip(base, hot, strict=True)))


class AccuracyPanel(QWidget):
    """Summary line plus a table: one row per true class, per-class accuracy then confusion."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.metrics: dict | None = None
        self.class_names: dict[int, str] = {}
        self.summary = QLabel("Pick a ground-truth layer to see accuracy after training.")
        self.summary.setWordWrap(True)
        self.table = QTableWidget(0, 0)
        self.table.setMaximumHeight(420)  # 16 classes fit without scrolling
        rows = self.table.verticalHeader()  # compact rows (the theme's are 30 px): 16 fit
        rows.setMinimumSectionSize(1)
        rows.setDefaultSectionSize(self.table.fontMetrics().height() + 6)
        rows.setMaximumWidth(self.table.fontMetrics().horizontalAdvance("16 Soybean-mint…"))
        rows.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.export_button = QPushButton("Export metrics…")
        self.export_button.setEnabled(False)
        self.export_button.clicked.connect(self._export_dialog)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for w in (self.summary, self.table, self.export_button):
            layout.addWidget(w)

    def clear(self, message: str = "") -> None:
        self.metrics = None
        self.table.setRowCount(0)
        self.table.setColumnCount(0)
        self.export_button.setEnabled(False)
        if message:
            self.summary.setText(message)

    def show_metrics(self, metrics: dict, class_names: dict[int, str] | None = None,
                     scored_on: str | None = None) -> None:
        """``scored_on`` says which pixels the scores count (default: ``n_test`` test pixels)."""
        self.metrics = metrics
        self.class_names = dict(class_names or {})
        values = [int(v) for v in metrics["class_values"]]
        # the two largest confusions, in words (the table's rows and columns say the same)
        worst = confusions_text(metrics, self.class_names, k=2)
        self.summary.setText(
            f"OA {metrics['oa']:.2%}   AA {metrics['aa']:.2%}   kappa {metrics['kappa']:.3f}\n"
            f"{scored_on or str(metrics['n_test']) + ' test pixels.'} "
            + (worst or "Table rows: true class, columns: predicted.")
        )
        t = self.table
        t.setRowCount(len(values))
        t.setColumnCount(len(values) + 1)
        t.setHorizontalHeaderLabels(["acc.", *[str(v) for v in values]])
        t.horizontalHeaderItem(0).setToolTip("Per-class accuracy: the share of the class's "
                                             "test pixels mapped as that class")
        # a row is its value and name, as the columns are values; long names are cut (their
        # tip is whole), so more of the matrix shows in a narrow dock
        t.setVerticalHeaderLabels([f"{v} {self.class_names[v]}" if self.class_names.get(v)
                                   else str(v) for v in values])
        for r, v in enumerate(values):  # a column's header is the value; its tip the name
            name = self.class_names.get(v, f"class {v}")
            t.verticalHeaderItem(r).setToolTip(f"true {name} ({v})")
            t.horizontalHeaderItem(r + 1).setToolTip(f"predicted {name} ({v})")
        for r, (v, row) in enumerate(zip(values, metrics["confusion"], strict=True)):
            acc = metrics["per_class"].get(v)
            t.setItem(r, 0, QTableWidgetItem("" if acc is None else f"{acc:.1%}"))
            total = max(1, int(sum(row)))
            for c, n in enumerate(row):
                item = QTableWidgetItem(str(n))
                item.setBackground(heat(n / total, diagonal=c == r))  # a heat map by row
                item.setForeground(QColor("#000000" if n / total > 0.5 else "#ffffff"))
                item.setToolTip(f"true {self.class_names.get(v, v)}, predicted "
                                f"{self.class_names.get(values[c], values[c])}: {n} px "
                                f"({n / total:.0%} of the row)")
                t.setItem(r, c + 1, item)
        t.resizeColumnsToContents()
        self._fit_rows(16)
        self.export_button.setEnabled(True)

    def _fit_rows(self, max_rows: int) -> None:
        """Tall enough for ``max_rows`` rows (Indian Pines' 16) without scrolling: the table's
        own size hint is a few rows, which is what a page with room to spare would give it."""
        t = self.table
        rows = min(max(t.rowCount(), 1), max_rows)
        height = (t.horizontalHeader().height() + rows * t.verticalHeader().defaultSectionSize()
                  + t.horizontalScrollBar().sizeHint().height() + 2 * t.frameWidth())
        t.setMinimumHeight(min(height, t.maximumHeight()))

    def export(self, path: str | Path) -> Path:
        if self.metrics is None:
            raise ValueError("no metrics to export yet")
        return export_metrics(self.metrics, path, self.class_names)

    def _export_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "Export metrics", "metrics.json", "JSON (*.json);;CSV (*.csv)"
        )
        if path:
            self.export(path)
