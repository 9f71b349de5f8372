"""Helpers shared by the tests in a real napari viewer (import from tests._napari.gui_helpers)."""

from napari.utils.notifications import NotificationSeverity, notification_manager

TIMEOUT_MS = 120_000


class Notes:
    """napari notifications raised since this object was made."""

    def __init__(self):
        self.start = len(notification_manager.records)

    def of(self, severity) -> list[str]:
        return [str(n.message) for n in notification_manager.records[self.start:]
                if n.severity == severity]

    @property
    def errors(self) -> list[str]:
        return self.of(NotificationSeverity.ERROR)

    @property
    def warnings(self) -> list[str]:
        return self.of(NotificationSeverity.WARNING)

    @property
    def infos(self) -> list[str]:
        return self.of(NotificationSeverity.INFO)


def wait_idle(qtbot, widget, job, timeout: int = TIMEOUT_MS) -> None:
    """Wait until the dock has no job running and ``job``'s worker has signalled its end."""
    assert job is not None
    qtbot.waitUntil(lambda: not widget.running, timeout=timeout)
    assert job.done.is_set()  # the worker's finished signal fired


def wait_trainer(qtbot, job, timeout: int = TIMEOUT_MS):
    """``job``'s Trainer, once its worker has built it (the dock builds it off the main
    thread)."""
    assert job is not None
    qtbot.waitUntil(lambda: job.trainer is not None or job.done.is_set(), timeout=timeout)
    assert job.trainer is not None, job.outcome
    return job.trainer


def status_texts(monkeypatch, label) -> list[str]:
    """Every text the dock gives ``label`` from now on (a status line may change between two
    polls of a test)."""
    texts: list[str] = []
    real = label.setText
    monkeypatch.setattr(label, "setText", lambda text: (texts.append(text), real(text))[1])
    return texts
