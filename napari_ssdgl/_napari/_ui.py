"""Small Qt builders the dock's boxes share, so each box reads as its layout."""

from __future__ import annotations

from collections.abc import Callable

from qtpy.QtWidgets import QFormLayout, QGroupBox, QHBoxLayout, QPushButton, QVBoxLayout


def button(text: str, slot: Callable[[], object], tip: str = "") -> QPushButton:
    """A push button calling ``slot()`` (without Qt's ``checked`` argument)."""
    b = QPushButton(text)
    b.clicked.connect(lambda *_: slot())
    b.setToolTip(tip)
    return b


def fill(box: QGroupBox, *items) -> QGroupBox:
    """Stack widgets and layouts (rows, forms) in ``box``, top to bottom."""
    layout = QVBoxLayout(box)
    for w in items:
        (layout.addLayout if isinstance(w, QHBoxLayout | QFormLayout) else layout.addWidget)(w)
    return box


def group(title: str, *items) -> QGroupBox:
    """A titled box holding ``items`` top to bottom."""
    return fill(QGroupBox(title), *items)


def row(*widgets) -> QHBoxLayout:
    layout = QHBoxLayout()
    for w in widgets:
        layout.addWidget(w)
    return layout

