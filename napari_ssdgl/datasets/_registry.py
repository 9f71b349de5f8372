"""Read ``sample_data/registry.json``: the sources, hashes and class tables of every scene."""

from __future__ import annotations

import copy
import json
from functools import lru_cache
from importlib.resources import files

import numpy as np

from napari_ssdgl.datasets._scene import DatasetError


@lru_cache(maxsize=1)
def registry() -> dict:
    """The parsed registry (cached; treat as read-only)."""
    text = files("napari_ssdgl.sample_data").joinpath("registry.json").read_text("utf-8")
    return json.loads(text)


def list_scenes() -> list[str]:
    """Keys accepted by `load_scene`, the synthetic scene first."""
    return list(registry()["scenes"])


def scene_info(key: str) -> dict:
    """A private copy of one scene's registry entry; unknown keys raise `DatasetError`."""
    scenes = registry()["scenes"]
    if key not in scenes:
        raise DatasetError(f"Unknown sample scene {key!r}; choose one of {', '.join(scenes)}.")
    return copy.deepcopy(scenes[key])


def class_tables(info: dict, n_classes: int | None = None) -> tuple[dict, dict]:
    """``({value: name}, {value: colour})`` for label values 1..n from a registry entry."""
    names, colors = info["class_names"], info["colors"]
    n = len(names) if n_classes is None else n_classes
    return (
        {i + 1: names[i] for i in range(n)},
        {i + 1: colors[i] for i in range(n)},
    )


def layout_centres(layout: dict) -> np.ndarray:
    """Band centres (nm) from a registry ``band_layout``: an even grid of ``sensor_bands``
    centres from ``first_nm`` to ``last_nm``, the ``removed_bands_1based`` ranges dropped."""
    n = int(layout["sensor_bands"])
    wl = np.linspace(float(layout["first_nm"]), float(layout["last_nm"]), n)
    keep = np.ones(n, dtype=bool)
    for first, last in layout.get("removed_bands_1based", []):
        keep[int(first) - 1:int(last)] = False
    return wl[keep]


def scene_wavelengths(info: dict) -> np.ndarray | None:
    """The scene's band centres in nm (``wavelengths_nm``; see ``wavelengths_note`` for how they
    were made), or None when the registry has none for it."""
    wl = info.get("wavelengths_nm")
    if wl is None and "band_layout" in info:
        return layout_centres(info["band_layout"])
    return None if wl is None else np.asarray(wl, dtype=float)
