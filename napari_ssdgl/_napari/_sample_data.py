"""napari sample-data contributions: each scene as an Image (the cube) and a Labels (ground truth).

Real scenes may need a download; failures surface in napari as a `DatasetError` notification
that says what to do (e.g. set NAPARI_SSDGL_ALLOW_UNPINNED=1 for files without a pinned hash).
"""

from __future__ import annotations

import numpy as np
from napari.utils.colormaps import DirectLabelColormap

from napari_ssdgl.datasets import Scene, load_scene


def scene_layers(scene: Scene) -> list[tuple]:
    """LayerData tuples ``[(cube, kwargs, "image"), (gt, kwargs, "labels")]`` for a scene."""
    cube, gt = scene.cube, scene.gt
    classes = {
        "scene": scene.key,
        "class_names": {int(k): v for k, v in gt.class_names.items()},
        "class_colors": {int(k): v for k, v in gt.colors.items()},
    }
    sample = cube.data[:, ::4, ::4]
    lo, hi = (float(v) for v in np.nanpercentile(sample, (1, 99)))
    image = (cube.data, {
        "name": cube.name,
        "rgb": False,
        "axis_labels": ("band", "y", "x"),
        "contrast_limits": (lo, hi if hi > lo else lo + 1.0),
        "metadata": {**cube.metadata(), **classes, "rgb_bands": list(scene.rgb_bands)},
    }, "image")
    colors = {None: "transparent", 0: "transparent", **gt.colors}
    labels = (gt.data, {
        "name": gt.name,
        "colormap": DirectLabelColormap(color_dict=colors),
        "opacity": 0.6,
        "metadata": {**gt.metadata(), **classes},
    }, "labels")
    return [image, labels]


def synthetic_scene() -> list[tuple]:
    return scene_layers(load_scene("synthetic"))


def indian_pines() -> list[tuple]:
    return scene_layers(load_scene("indian_pines"))


def pavia_university() -> list[tuple]:
    return scene_layers(load_scene("pavia_university"))


def salinas() -> list[tuple]:
    return scene_layers(load_scene("salinas"))
