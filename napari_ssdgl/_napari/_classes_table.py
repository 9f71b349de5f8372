"""The classes table: value, editable name, colour swatch and painted-pixel count.

Names live in the labels layer's metadata (``class_names``) so they travel with the layer
into training (the classifier stores them) and into saved class maps.
"""

from __future__ import annotations

import numpy as np
from napari.layers import Labels
from qtpy.QtCore import Qt, Signal
from qtpy.QtGui import QColor
from qtpy.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem

from napari_ssdgl._napari._layers import class_colors, class_names

VALUE, NAME, COLOR, COUNT = range(4)


def label_counts(data) -> dict[int, int]:
    """Pixel count per non-zero label value."""
    arr = np.asarray(data).ravel()
    if arr.size == 0:
        return {}
    if np.issubdtype(arr.dtype, np.integer) and arr.min() >= 0 and arr.max() < 1_000_000:
        counts = np.bincount(arr)  # a paint stroke recounts: bincount is ~10x faster than unique
        values = np.flatnonzero(counts)
        return {int(v): int(counts[v]) for v in values if v != 0}
    values, counts = np.unique(arr[arr != 0], return_counts=True)
    return {int(v): int(c) for v, c in zip(values, counts, strict=True)}


class ClassesTable(QTableWidget):
    """Lists the classes of one labels layer and keeps the counts live while painting;
    ``counted`` carries each recount (``{value: pixels}``)."""

    counted = Signal(dict)

    def __init__(self, parent=None):
        super().__init__(0, 4, parent)
        self.setHorizontalHeaderLabels(["Value", "Name", "Colour", "Pixels"])
        self.verticalHeader().setVisible(False)
        header = self.horizontalHeader()
        for col in (VALUE, COLOR, COUNT):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(NAME, QHeaderView.ResizeMode.Stretch)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.layer: Labels | None = None
        self._filling = False
        self.itemChanged.connect(self._on_item_changed)
        self.itemSelectionChanged.connect(self._on_row_selected)

    def set_layer(self, layer: Labels | None) -> None:
        """Show ``layer``'s classes and follow its painting."""
        if self.layer is not None:
            for ev in (self.layer.events.paint, self.layer.events.data):
                ev.disconnect(self.refresh)
        self.layer = layer
        if layer is not None:
            layer.events.paint.connect(self.refresh)
            layer.events.data.connect(self.refresh)
        self.refresh()

    def classes(self) -> dict[int, str]:
        """``{value: name}`` of the rows shown."""
        return {
            int(self.item(r, VALUE).text()): self.item(r, NAME).text()
            for r in range(self.rowCount())
        }

    def refresh(self, *_) -> None:
        layer = self.layer
        counts = label_counts(layer.data) if layer is not None else {}
        names = class_names(layer)
        values = sorted(set(counts) | set(names))
        colors = class_colors(layer, values)
        self._filling = True
        try:
            self.setRowCount(len(values))
            for row, v in enumerate(values):
                self._set(row, VALUE, str(v), editable=False)
                self._set(row, NAME, names.get(v, f"class {v}"), editable=True)
                swatch = self._set(row, COLOR, "      ", editable=False)
                swatch.setBackground(QColor(colors[v]))
                swatch.setToolTip(colors[v])
                self._set(row, COUNT, str(counts.get(v, 0)), editable=False)
        finally:
            self._filling = False
        self._fit_height()
        self.counted.emit(counts)

    def _fit_height(self, max_rows: int = 8) -> None:
        """Show up to ``max_rows`` rows without scrolling; more scroll."""
        rows = min(max(self.rowCount(), 1), max_rows)
        row_h = self.verticalHeader().defaultSectionSize()
        self.setFixedHeight(self.horizontalHeader().height() + rows * row_h + 2 * self.frameWidth())

    def _set(self, row: int, col: int, text: str, editable: bool) -> QTableWidgetItem:
        item = self.item(row, col)
        if item is None:
            item = QTableWidgetItem()
            self.setItem(row, col, item)
        item.setText(text)
        flags = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
        if editable:
            flags |= Qt.ItemFlag.ItemIsEditable
        item.setFlags(flags)
        return item

    def _on_item_changed(self, item: QTableWidgetItem) -> None:
        if self._filling or self.layer is None or item.column() != NAME:
            return
        value = int(self.item(item.row(), VALUE).text())
        names = class_names(self.layer)
        names[value] = item.text().strip() or f"class {value}"
        self.layer.metadata["class_names"] = names

    def _on_row_selected(self) -> None:
        """Selecting a row picks that class for the brush."""
        rows = {i.row() for i in self.selectedItems()}
        if self.layer is not None and len(rows) == 1:
            self.layer.selected_label = int(self.item(rows.pop(), VALUE).text())
