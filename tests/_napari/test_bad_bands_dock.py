"""Suspect bands in the docks (issue 20, item 2): "Detect bad bands" on the Label tab finds the
planted bad bands off the main thread, the spectral plot shades them with their reasons, and
the band selector counts and checks what it is given."""

import threading

import numpy as np
import pytest
from qtpy.QtCore import Qt

from napari_ssdgl._napari import _suspect
from napari_ssdgl._napari._spectrum_plot import SpectralProfileWidget
from napari_ssdgl._napari._widget import SSDGLWidget
from tests._napari.gui_helpers import Notes, status_texts, wait_idle, wait_trainer

BANDS = 24
WAVELENGTHS = np.linspace(400, 2400, BANDS)  # bands 11-12 and 17 fall in the water windows
PLANTED = {0: "flagged bad by the file", 5: "constant", 9: "non-finite", 20: "low SNR"}
WATER = {11, 12, 17}


def planted_cube() -> np.ndarray:
    """A smooth scene (a little noise) with a constant band, a band 20 % NaN and a noise band."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:40, :40]
    base = np.sin(yy / 6.0) + np.cos(xx / 5.0)
    cube = np.stack([base * (1 + 0.1 * i) + 0.02 * rng.standard_normal(base.shape)
                     for i in range(BANDS)]).astype(np.float32)
    cube[5] = 0.3
    cube[9, :8] = np.nan
    cube[20] = 0.5 * rng.standard_normal(base.shape)
    return cube


@pytest.fixture
def docks(make_napari_viewer):
    viewer = make_napari_viewer()
    flags = [False] * BANDS
    flags[0] = True
    layer = viewer.add_image(planted_cube(), name="planted", metadata={
        "wavelengths": [float(v) for v in WAVELENGTHS], "wavelength_units": "nm",
        "bad_bands": flags})
    w = SSDGLWidget(viewer)
    viewer.window.add_dock_widget(w, name="SSDGL classifier")
    spectra = SpectralProfileWidget(viewer)
    viewer.window.add_dock_widget(spectra, name="Spectral profile")
    return viewer, w, spectra, layer


def _detect(qtbot, w, click=True) -> None:
    if click:
        qtbot.mouseClick(w.bands.detect_button, Qt.MouseButton.LeftButton)
    else:
        w.detect_bad_bands()
    qtbot.waitUntil(lambda: w.bands.report is not None and w.bands.detect_button.isEnabled(),
                    timeout=30_000)


def test_detect_shades_the_planted_bands_with_their_reasons(docks, qtbot, monkeypatch):
    viewer, w, spectra, layer = docks
    threads = []
    real = _suspect.detect
    monkeypatch.setattr(_suspect, "detect", lambda *a: threads.append(
        threading.current_thread()) or real(*a))
    notes = Notes()
    assert spectra.canvas.suspect == {} and not spectra.canvas.suspect_spans
    _detect(qtbot, w)
    assert threads and threads[0] is not threading.main_thread()  # off the main thread
    assert set(w.bands.report.indices) == set(PLANTED) | WATER
    shaded = spectra.canvas.suspect
    assert set(shaded) == set(PLANTED) | WATER
    for b, why in PLANTED.items():
        assert why in shaded[b], (b, shaded[b])
    assert all("water absorption" in shaded[b] for b in WATER)
    # one span per run of neighbouring bands: 0, 5, 9, 11-12, 17, 20
    assert len(spectra.canvas.suspect_spans) == 6
    # the tooltip names the band under the cursor and why
    assert "water absorption" in spectra.canvas.suspect_at(float(WAVELENGTHS[11]))
    assert spectra.canvas.suspect_at(float(WAVELENGTHS[3])) == ""
    # the reasons in the dock's message line and a notification
    assert "constant" in w.messages.text() and "water absorption" in w.messages.messages[-1]
    assert any("7 suspect bands of 24" in m for m in notes.warnings)
    # the band selector is filled with them and counts what is kept
    assert w.bands.exclude.text() == "0,5,9,11-12,17,20"
    assert w.bands.count.text() == f"{BANDS - 7} of {BANDS} bands kept"


def test_a_spectral_dock_opened_later_shades_what_was_detected(docks, qtbot):
    viewer, w, spectra, layer = docks
    _detect(qtbot, w, click=False)
    late = SpectralProfileWidget(viewer)
    viewer.window.add_dock_widget(late, name="Spectral profile 2")
    assert set(late.canvas.suspect) == set(PLANTED) | WATER
    assert "suspect bands" in late.status.text()


def test_a_lazy_cube_is_detected_in_the_worker(make_napari_viewer, qtbot):
    da = pytest.importorskip("dask.array")
    viewer = make_napari_viewer()
    viewer.add_image(da.from_array(planted_cube(), chunks=(BANDS, 20, 20)), name="lazy",
                     metadata={"lazy": True})
    w = SSDGLWidget(viewer)
    viewer.window.add_dock_widget(w, name="SSDGL classifier")
    _detect(qtbot, w)
    assert {5, 9, 20} <= set(w.bands.report.indices)  # no wavelengths, no flags: measured only


def test_band_selector_counts_and_reports_bad_syntax(docks, qtbot):
    viewer, w, spectra, layer = docks
    box = w.bands
    assert box.count.text() == f"all {BANDS} bands kept"
    box.exclude.setText("0-2, 1350-1450nm")
    assert box.excluded() == [0, 1, 2, 11, 12]
    assert box.count.text() == f"{BANDS - 5} of {BANDS} bands kept"
    box.exclude.setText("3-1")
    assert "low to high" in box.count.text() and "ff6b6b" in box.count.styleSheet()
    box.exclude.setText("30")
    assert "does not exist" in box.count.text()
    box.exclude.setText("0-22")
    assert "at least 2" in box.count.text()
    box.exclude.setText("auto")
    assert "detected when you Train" in box.count.text()
    assert set(box.excluded()) == set(PLANTED) | WATER  # detected on demand


def test_detect_without_a_cube_says_so(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    w = SSDGLWidget(viewer)
    notes = Notes()
    assert w.detect_bad_bands() is None
    assert any("Pick a cube" in m for m in notes.errors)
    assert isinstance(w, SSDGLWidget)


def test_train_refuses_a_bad_band_list_and_says_why(docks, qtbot):
    viewer, w, spectra, layer = docks
    w.labels_picker.value = labels = viewer.add_labels(np.zeros((40, 40), np.uint8), name="paint")
    labels.data[:5, :5], labels.data[-5:, -5:] = 1, 2
    n_layers = len(viewer.layers)
    notes = Notes()
    w.bands.exclude.setText("0-2,, 5")
    assert "empty item" in w.bands.count.text()
    assert w.train() is None and not w.running
    assert any("Cannot train" in m and "Bands" in m and "empty item" in m
               for m in notes.errors), notes.errors
    assert len(viewer.layers) == n_layers
    # with 'auto' still to detect, the list is read in the worker: the same message, later
    w.bands.exclude.setText("auto, 0-99")
    wait_idle(qtbot, w, w.train())
    assert notes.errors[-1].startswith("Cannot train: the bands to exclude (Label tab, Bands)")
    assert "band 99 does not exist" in notes.errors[-1] and w.status.text() == notes.errors[-1]
    assert len(viewer.layers) == n_layers and w.classifier is None


def test_new_data_drops_the_old_detection(docks, qtbot):
    viewer, w, spectra, layer = docks
    _detect(qtbot, w, click=False)
    assert spectra.canvas.suspect and spectra.status.text().startswith("Shaded:")
    layer.data = planted_cube()[::-1].copy()  # same band count, other bands
    assert _suspect.stored(layer) is None
    assert spectra.canvas.suspect == {} and not spectra.status.text().startswith("Shaded:")


TINY_FREENET = dict(model="freenet", iterations=30, lr=0.01, eval_every=10, preview_every=0,
                    model_kwargs=dict(widths=[16] * 4, decoder_width=16, groups=4))
TINY_SSDGL = dict(model="ssdgl", iterations=80, lr=0.009, eval_every=20, preview_every=0,
                  model_kwargs=dict(widths=[16] * 4, decoder_width=16, groups=4, time_steps=2))


def test_training_leaves_out_the_chosen_bands_and_the_model_says_so(opened, scene, qtbot,
                                                                    tmp_path, monkeypatch):
    from napari_ssdgl.training import split_per_class

    viewer, w = opened
    cube = viewer.layers[scene.cube.name]
    w.gt_picker.value = viewer.layers[scene.gt.name]
    w.config_overrides = dict(TINY_SSDGL)  # as test_widget's: OA over 0.8 on all bands
    w.new_labels_layer().data = split_per_class(scene.gt.data, 8, seed=0)[0].astype(np.uint16)
    notes = Notes()
    w.bands.exclude.setText("0-1, 15")
    assert w.bands.count.text() == "13 of 16 bands kept"
    said = status_texts(monkeypatch, w.status)
    job = w.train()
    assert wait_trainer(qtbot, job).band_selection.excluded == [0, 1, 15]
    wait_idle(qtbot, w, job)
    assert any("on 13 of 16 bands (without 0-1,15)" in t for t in said), said
    assert not notes.errors, notes.errors
    clf = w.classifier
    assert clf.bands == 13 and clf.band_selection.excluded == [0, 1, 15]
    assert clf.band_selection.reasons[15] == "excluded by the user"
    assert "excluded 0-1,15 of the 16-band training cube" in w.model.info.text()
    # the map is the model's map of the full cube, the same bands dropped
    np.testing.assert_array_equal(viewer.layers[f"{scene.cube.name} prediction"].data,
                                  clf.predict(np.asarray(cube.data)).labels)
    assert w.metrics["oa"] > 0.8  # it learnt on the bands it kept (chance is about 0.2)
    # saved and loaded: the selection comes back and Apply drops the same bands again
    w.save_model(tmp_path / "model")
    w.classifier = None
    assert w.load_model(tmp_path / "model").band_selection.excluded == [0, 1, 15]
    assert "excluded 0-1,15" in w.model.info.text()


def test_auto_exclusion_keeps_the_detections_reasons_in_the_model(docks, qtbot, monkeypatch):
    viewer, w, spectra, layer = docks
    labels = viewer.add_labels(np.zeros((40, 40), np.uint8), name="paint")
    labels.data[2:12, 2:12], labels.data[28:38, 28:38] = 1, 2
    w.labels_picker.value = labels
    w.config_overrides = dict(TINY_FREENET, iterations=3, eval_every=0)
    w.bands.exclude.setText("auto")
    threads = []
    real = _suspect.detect
    monkeypatch.setattr(_suspect, "detect", lambda *a: threads.append(
        threading.current_thread()) or real(*a))
    notes = Notes()
    job = w.train()  # no detection yet: made for 'auto' in the training worker
    assert job is not None, notes.errors
    wait_idle(qtbot, w, job)
    assert not notes.errors, notes.errors
    assert len(threads) == 1 and threads[0] is not threading.main_thread()
    assert w.bands.report is _suspect.report(layer) is not None  # kept for the next Train
    assert w.bands.count.text() == f"{BANDS - 7} of {BANDS} bands kept"
    sel = w.classifier.band_selection
    assert set(sel.excluded) == set(PLANTED) | WATER
    assert sel.reasons[5] == "constant" and "water absorption" in sel.reasons[17]
    assert "band 5: constant" in w.model.info.toolTip().splitlines()
    assert set(spectra.canvas.suspect) == set(PLANTED) | WATER  # the detection was shown too


def test_closing_the_dock_during_a_detection_is_quiet(docks, qtbot, monkeypatch):
    """The detection ends after its dock is gone: its result still lands on the layer, and no
    slot reaches the deleted box (a Qt 'wrapped C/C++ object has been deleted' error)."""
    from qtpy.QtCore import QCoreApplication, QEvent

    viewer, w, spectra, layer = docks
    release = threading.Event()
    real = _suspect.detect
    monkeypatch.setattr(_suspect, "detect", lambda *a: release.wait(30) and real(*a))
    worker = w.detect_bad_bands()
    ended = []
    worker.finished.connect(lambda: ended.append(True))
    viewer.window.remove_dock_widget(w)
    w.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    release.set()
    qtbot.waitUntil(lambda: bool(ended), timeout=30_000)
    qtbot.wait(50)  # the worker's queued slots run here
    assert set(_suspect.report(layer).indices) == set(PLANTED) | WATER
    assert set(spectra.canvas.suspect) == set(PLANTED) | WATER
