"""The dock's message line: the plugin's warnings and errors in full, in the dock itself.

napari shows notifications as toasts that go away and cut long messages; the same text is
written here, whole and selectable, for the ones this plugin raised (told apart by a
``napari_ssdgl`` frame on the stack of the ``show_error``/``show_warning`` call).
"""

from __future__ import annotations

import sys
from functools import partial

from napari.utils.notifications import NotificationSeverity, notification_manager
from qtpy.QtCore import Qt
from qtpy.QtWidgets import QLabel

_SHOWN = {NotificationSeverity.ERROR: "#ff6b6b", NotificationSeverity.WARNING: "#ffd166"}


def _from_plugin(depth: int = 2, limit: int = 40) -> bool:
    frame = sys._getframe(depth)
    for _ in range(limit):
        if frame is None:
            return False
        name = frame.f_code.co_filename.replace("\\", "/")
        if "/napari_ssdgl/" in name and not name.endswith("/_messages.py"):
            return True
        frame = frame.f_back
    return False


class MessageLine(QLabel):
    """Hidden until the plugin warns or errs; then the last message, coloured by severity."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setWordWrap(True)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.setVisible(False)
        self.messages: list[str] = []
        self._handler = handler = partial(_on_notification, self)
        notification_manager.notification_ready.connect(handler)
        self.destroyed.connect(lambda *_: _disconnect(handler))

    def show_message(self, severity, text: str) -> None:
        self.messages.append(text)
        kind = "Error" if severity == NotificationSeverity.ERROR else "Warning"
        self.setStyleSheet(f"color: {_SHOWN[severity]};")
        self.setText(f"{kind}: {text}")
        self.setVisible(True)


def _on_notification(line: MessageLine, event) -> None:
    note = event  # the emitter's event is the Notification itself
    severity = getattr(note, "severity", None)
    if severity in _SHOWN and _from_plugin():
        try:
            line.show_message(severity, str(note.message))
        except RuntimeError:  # the dock's C++ object is gone
            _disconnect(line._handler)


def _disconnect(handler) -> None:
    try:
        notification_manager.notification_ready.disconnect(handler)
    except (TypeError, ValueError, RuntimeError):
        pass
