"""Notice when the viewer's main window really closes, so the dock can end its worker first."""

from __future__ import annotations

import weakref
from collections.abc import Callable

from qtpy.QtCore import QEvent, QObject, QTimer


class CloseGuard(QObject):
    """Calls ``on_close`` when the viewer's main window really closes (Qt API only).

    A programmatic close (``viewer.close()``) always goes through, so it acts on the Close
    event. A user's close may still be cancelled in napari's confirmation dialog, so then it
    waits for the window to hide, which happens only once the close is accepted.
    """

    def __init__(self, on_close: Callable[[], None], parent: QObject | None = None):
        super().__init__(parent)
        self._on_close = on_close
        self._pending = False
        self._window = None

    def watch(self, window) -> None:
        current = self._window() if self._window is not None else None
        if window is current:
            return
        if current is not None:
            current.removeEventFilter(self)
        # weak: a closed viewer's window (and its QtViewer) must not outlive it because of us
        self._window = None if window is None else weakref.ref(window)
        if window is not None:
            window.installEventFilter(self)

    def eventFilter(self, obj, event) -> bool:
        kind = event.type()
        if kind == QEvent.Type.Close:
            if event.spontaneous() and obj.isVisible():
                self._pending = True
                QTimer.singleShot(0, self._clear)
            else:
                self._closed()
        elif kind == QEvent.Type.Hide and self._pending:
            self._closed()
        return False

    def _closed(self) -> None:
        self._pending = False
        self._window = None
        self._on_close()

    def _clear(self) -> None:
        self._pending = False
