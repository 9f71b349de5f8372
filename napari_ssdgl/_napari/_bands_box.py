"""The "Bands" box (Label tab, under the cube it is about): detect the picked cube's suspect
bands and choose the bands to leave out of training.

Detect runs :func:`~napari_ssdgl.analysis.bands.detect_bad_bands` in a thread worker (a lazy
cube's central window is read there, not on the main thread), keeps the result on the layer
(``_suspect``: the spectral-profile dock shades those bands), says the reasons in the dock's
message line, and fills the selector with them. The selector is read as the CLI reads
``--exclude-bands`` (:func:`~napari_ssdgl.workflows.band_selection.band_selection`, syntax
:data:`~napari_ssdgl.analysis.band_syntax.SYNTAX`), says live how many bands are kept or what
is wrong with the text, and gives Train a :class:`~._suspect.BandRequest` (the selection,
reasons included for model.json, is made in Train's worker: for ``auto`` with no detection yet,
the detection runs there too).

A detection outlives a dock closed meanwhile: its result still goes on the layer (the
spectral-profile dock shades it), and only the box's own bound methods (which Qt disconnects
when the box is deleted) touch the box.
"""

from __future__ import annotations

from functools import partial

from napari.qt.threading import create_worker
from napari.utils.notifications import show_error, show_info, show_warning
from qtpy.QtWidgets import QGroupBox, QLabel, QLineEdit

from napari_ssdgl._napari import _suspect
from napari_ssdgl._napari._suspect import BandRequest
from napari_ssdgl._napari._ui import button, fill, row
from napari_ssdgl.analysis.band_syntax import SYNTAX, BandSyntaxError, format_bands, wants_auto
from napari_ssdgl.analysis.bands import BandReport
from napari_ssdgl.prediction.spectral import BandSelection

_ERROR = "color: #ff6b6b;"


class BandsBox(QGroupBox):
    """Detect bad bands, and the bands to exclude; ``cube()`` is the picked cube layer."""

    def __init__(self, cube, parent=None):
        super().__init__("Bands", parent)
        self.cube = cube
        self.report: BandReport | None = None  # the latest detection's, for its layer
        self._worker = None
        self._detecting = None  # the layer the running detection is of
        self.exclude = QLineEdit()
        self.exclude.setPlaceholderText("bands to leave out, e.g. 0-2,103-107 or auto")
        self.exclude.setToolTip(f"Bands left out of training: {SYNTAX}. Empty: all bands.")
        self.exclude.textChanged.connect(lambda *_: self.update_count())
        self.detect_button = button("Detect bad bands", self.detect,
                                    "Find noisy, constant, non-finite and water-absorption "
                                    "bands (and the file's own flags); shaded on the "
                                    "spectral plot")
        self.count = QLabel()
        self.count.setWordWrap(True)
        fill(self, row(self.exclude, self.detect_button), self.count)
        self.update_count()

    # -- detection ---------------------------------------------------------------------------
    def detect(self):
        """Detect the picked cube's suspect bands in the background; returns the worker."""
        layer = self.cube()
        if layer is None:
            show_error("Pick a cube first: 'Detect bad bands' looks at its bands.")
            return None
        if self._worker is not None:
            return self._worker
        worker = create_worker(_suspect.detect, _suspect.as_cube(layer), _start_thread=False)
        # module functions for the layer (they run even after the dock is closed), bound
        # methods for the box (a lambda would reach its deleted widgets)
        worker.returned.connect(partial(_found, layer))
        worker.errored.connect(lambda exc: show_error(f"Bad-band detection failed on "
                                                      f"'{layer.name}': {exc}"))
        worker.returned.connect(self._detected)
        worker.finished.connect(self._finished)
        self._worker, self._detecting = worker, layer
        self.detect_button.setEnabled(False)
        self.count.setText(f"Looking for suspect bands in '{layer.name}'…")
        worker.start()
        return worker

    def _finished(self) -> None:
        self._worker = self._detecting = None
        self.detect_button.setEnabled(True)
        self.update_count()

    def _detected(self, report: BandReport) -> None:
        if self._detecting is self.cube():
            self.report = report
            if report.indices and not self.exclude.text().strip():
                self.exclude.setText(format_bands(report.indices))

    def keep(self, layer, report: BandReport) -> None:
        """Keep a detection made for ``layer`` elsewhere (Train's worker, for ``auto``)."""
        _suspect.store(layer, report)
        if layer is self.cube():
            self.report = report
        self.update_count()

    # -- selection ---------------------------------------------------------------------------
    def request(self, layer=None) -> BandRequest | None:
        """What Train takes of this box for ``layer`` (default: the picked cube), on the main
        thread; None: all bands."""
        layer = layer if layer is not None else self.cube()
        text = self.exclude.text()
        if layer is None or not text.strip():
            return None
        return BandRequest(_suspect.as_cube(layer), text, _suspect.report(layer))

    def selection(self, layer=None) -> BandSelection | None:
        """The bands of ``layer`` (default: the picked cube) to train on, None for all; raises
        BandSyntaxError. 'auto' uses the stored detection, detecting now (on this thread) if
        there is none."""
        layer = layer if layer is not None else self.cube()
        request = self.request(layer)
        if request is None:
            return None
        selection, made = request.resolve()
        if made is not None:
            self.keep(layer, made)
        return selection

    def excluded(self, layer=None) -> list[int]:
        """The bands :meth:`selection` leaves out."""
        sel = self.selection(layer)
        return [] if sel is None else sel.excluded

    def update_count(self) -> str:
        """The live line under the selector: 'N of M bands kept', or what is wrong."""
        layer = self.cube()
        text, style = "", ""
        if layer is None:
            text = "No cube picked."
        elif wants_auto(self.exclude.text()) and _suspect.stored(layer) is None:
            text = "auto: the suspect bands are detected when you Train (or press Detect)."
        else:
            bands = int(layer.data.shape[0])
            try:
                n = bands - len(self.excluded(layer))
                text = (f"all {bands} bands kept" if n == bands
                        else f"{n} of {bands} bands kept")
            except BandSyntaxError as exc:
                text, style = f"Bands: {exc}", _ERROR
        self.count.setText(text)
        self.count.setStyleSheet(style)
        return text


def _found(layer, report: BandReport) -> None:
    """A detection's result, on its layer and in a notification (with or without the dock)."""
    _suspect.store(layer, report)
    say = show_warning if report.indices else show_info
    say(f"'{layer.name}': {report.summary()}")
