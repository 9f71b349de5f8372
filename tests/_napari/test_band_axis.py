"""The dock's "Band axis…" (issue 21): a cube whose file has no axis metadata opens by the
readers' rule, and the dock reopens it with the bands on the axis the user names."""

import numpy as np
import pytest

from napari_ssdgl._napari._widget import SSDGLWidget

pytestmark = pytest.mark.gui


@pytest.fixture
def cube_file(tmp_path):
    """(40, 50, 30) with no axis metadata: the rule takes the smallest axis (30) as the bands."""
    path = tmp_path / "scan.npy"
    np.save(path, np.random.default_rng(0).random((40, 50, 30), dtype=np.float32))
    return path


def test_band_axis_reopens_the_file_on_another_axis(make_napari_viewer, cube_file, notes):
    viewer = make_napari_viewer()
    viewer.open(str(cube_file), plugin="napari-ssdgl")
    widget = SSDGLWidget(viewer)
    layer = widget.data.cube_picker.value
    assert layer.data.shape == (30, 40, 50)
    choices = widget.data.band_axis_choices(layer)
    assert choices[0].startswith("axis 2: 30 bands (now:")
    assert sorted(c.split(":")[0] for c in choices) == ["axis 0", "axis 1", "axis 2"]
    blank = widget.data.new_labels_layer()

    assert widget.data.set_band_axis(layer, 0)
    assert layer.data.shape == (40, 50, 30)
    assert layer.metadata["band_axis"] == 0
    assert np.array_equal(layer.data, np.load(cube_file))
    assert any(blank.name in w for w in notes.warnings)  # the labels no longer fit: said
    assert not notes.errors


def test_band_axis_needs_a_file(make_napari_viewer, notes):
    viewer = make_napari_viewer()
    layer = viewer.add_image(np.zeros((8, 16, 16), np.float32), name="made here")
    widget = SSDGLWidget(viewer)
    assert not widget.data.set_band_axis(layer, 1)
    assert layer.data.shape == (8, 16, 16)
    assert any("no file behind it" in e for e in notes.errors)
