"""The `Scene` bundle returned by every loader, and the one error type they raise."""

from __future__ import annotations

from dataclasses import dataclass

from napari_ssdgl.io.base import Cube, LabelMap


class DatasetError(RuntimeError):
    """A sample scene could not be provided; the message names the scene and what to do."""


@dataclass
class Scene:
    """A cube with its ground truth, ready for training or display.

    ``gt.class_names`` and ``gt.colors`` are filled for every class value; ``rgb_bands`` are
    0-based band indices (red, green, blue) for a false-colour view of ``cube``.
    """

    key: str
    cube: Cube
    gt: LabelMap
    rgb_bands: tuple[int, int, int]

    @property
    def title(self) -> str:
        return self.cube.name
