"""Issue 18 leftovers, each in a real viewer: the training curve before a run is an empty,
labelled frame; a lazy apply is scored against the ground-truth layer by name."""

import dask.array as da
import numpy as np
import pytest

from tests._napari.gui_helpers import wait_idle
from tests.conftest import TINY


def test_training_curve_before_a_run_is_an_empty_labelled_frame(opened, qtbot):
    viewer, w = opened
    plot = w.plot
    w.training.set_running(None)  # the dock's idle state draws the (empty) curve
    for lo, hi in (plot.ax.get_xlim(), plot.ax.get_ylim(), plot.ax_val.get_ylim()):
        assert lo >= 0 and hi > lo, (lo, hi)  # not matplotlib's ±0.055 for no data
    assert plot.ax.get_xlabel() == "iteration" and plot.ax.get_ylabel() == "loss"
    assert not len(plot.ax.get_lines()[0].get_xdata())

    class Event:
        iteration, loss, validation, test = 40, 2.5, None, None

    plot.add(Event())
    plot.flush()
    assert plot.ax.get_xlim()[1] >= 40 and plot.ax.get_ylim()[1] >= 2.5  # rescaled to points


@pytest.fixture(scope="module")
def clf(scene):
    from napari_ssdgl.training import TrainConfig, Trainer

    trainer = Trainer(scene.cube.data, scene.gt.data,
                      TrainConfig(iterations=5, eval_every=0, device="cpu", model_kwargs=TINY))
    for _ in trainer.run():
        pass
    return trainer.result()


def test_lazy_apply_names_the_ground_truth_it_is_scored_on(opened, scene, clf, qtbot, notes):
    viewer, w = opened
    cube = np.asarray(scene.cube.data, np.float32)
    lazy = viewer.add_image(da.from_array(cube, chunks=(cube.shape[0], 16, 16)), name="lazy")
    w.gt_picker.value = truth = viewer.add_labels(np.asarray(scene.gt.data), name="truth")
    w.classifier = clf
    w.lazy_options = {"tile_size": 48, "overlap": 16}
    job = w.apply_to_cube(lazy)
    assert job is not None and job.gt_name == "truth", notes.errors
    wait_idle(qtbot, w, job)
    assert not notes.errors, notes.errors
    assert w.metrics is not None
    assert f"ground-truth layer '{truth.name}'" in w.accuracy.summary.text()
