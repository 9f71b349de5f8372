"""What the GUI tests share: the small synthetic scene, the notification recorder and the dock
opened on the scene as a newcomer gets it. The dock's background warm-up (``_napari._warmup``)
is off here, except where a test turns it on: every test opens a dock, and each warm-up is a
full training iteration."""

import pytest

from napari_ssdgl._napari._sample_data import scene_layers
from napari_ssdgl._napari._widget import SSDGLWidget
from napari_ssdgl.datasets import make_synthetic_scene
from tests._napari.gui_helpers import Notes


@pytest.fixture(autouse=True)
def _no_warmup(monkeypatch):
    monkeypatch.setenv("NAPARI_SSDGL_WARMUP", "0")


@pytest.fixture(scope="module")
def scene():
    return make_synthetic_scene(size=32, bands=16)


@pytest.fixture
def notes():
    return Notes()


@pytest.fixture
def opened(make_napari_viewer, scene):
    """(viewer, widget) as a newcomer gets them: the sample's cube and ground truth, the dock
    opened after them, nothing picked by hand."""
    viewer = make_napari_viewer()
    for data, kwargs, kind in scene_layers(scene):
        getattr(viewer, f"add_{kind}")(data, **kwargs)
    widget = SSDGLWidget(viewer)
    viewer.window.add_dock_widget(widget, name="SSDGL classifier")
    return viewer, widget
