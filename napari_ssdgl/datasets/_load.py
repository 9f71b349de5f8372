"""`load_scene`: the synthetic scene, or a real scene from an offline copy or the cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from napari_ssdgl.datasets._fetch import (
    ALLOW_UNPINNED_ENV,
    default_cache_dir,
    fetch_file,
    package_file,
    read_mat_variable,
    sha256_of,
    unpinned_allowed,
)
from napari_ssdgl.datasets._registry import class_tables, scene_info, scene_wavelengths
from napari_ssdgl.datasets._scene import DatasetError, Scene
from napari_ssdgl.datasets._synthetic import make_synthetic_scene
from napari_ssdgl.io.base import Cube, LabelMap


def load_scene(key: str, *, cache_dir: str | Path | None = None,
               allow_unpinned: bool = False) -> Scene:
    """Load a sample scene by registry key (see `list_scenes`).

    Real scenes come from an installed package's offline copy when the registry names one
    (Indian Pines in the ``tensorly`` wheel), else from ``cache_dir`` (default: the user cache),
    downloading missing files once. Files without a pinned hash are only downloaded with
    ``allow_unpinned=True`` or ``NAPARI_SSDGL_ALLOW_UNPINNED=1``. Failures raise `DatasetError`.
    """
    if key == "synthetic":
        return make_synthetic_scene()
    info = scene_info(key)
    if "download" not in info and not info.get("offline"):
        note = info.get("user_files", {}).get("note", "it cannot be downloaded")
        raise DatasetError(f"Sample scene {key!r} is not downloadable: {note}")
    found = _offline(info)
    if found is None:
        found = _download(key, info, cache_dir, allow_unpinned)
    (cube_rcb, cube_src), (gt, gt_src) = found
    if cube_rcb.ndim != 3 or gt.shape != cube_rcb.shape[:2]:
        raise DatasetError(f"Sample scene {key!r}: cube {cube_rcb.shape} and ground truth "
                           f"{gt.shape} do not fit together.")
    data = np.ascontiguousarray(np.moveaxis(cube_rcb, -1, 0))
    expected = tuple(info["shape"])
    if data.shape != expected:
        raise DatasetError(f"Sample scene {key!r}: expected a {expected} cube, got {data.shape}.")
    names, colors = class_tables(info)
    gt = gt.astype(np.int32)
    if gt.min() < 0 or gt.max() > len(names):
        raise DatasetError(
            f"Sample scene {key!r}: ground truth has values outside 0..{len(names)}."
        )
    title = info["title"]
    wl = scene_wavelengths(info)
    if wl is not None and wl.size != data.shape[0]:
        wl = None  # a registry entry that does not fit the file: no wavelengths rather than wrong
    cube = Cube(data, source=cube_src, name=title, wavelengths=wl,
                wavelength_units=None if wl is None else "nm")
    labels = LabelMap(gt, source=gt_src, name=f"{title} ground truth",
                      class_names=names, colors=colors)
    return Scene(key, cube, labels, tuple(int(b) for b in info["rgb_bands"]))


def _offline(info: dict):
    """``((cube, source), (gt, source))`` from a package's verified copy, else None."""
    off = info.get("offline")
    if not off:
        return None
    out = []
    for role in ("cube", "gt"):
        path = package_file(off["package"], off[role]["path"])
        if path is None or sha256_of(path) != off[role]["sha256"]:
            return None  # missing or a different version: fall back to the download
        out.append((np.load(path, allow_pickle=False), str(path)))
    return tuple(out)


def _download(key: str, info: dict, cache_dir, allow_unpinned: bool):
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    out = []
    for role in ("cube", "gt"):
        src = info["download"][role]
        path = folder / src["file"]
        if src["sha256"] is None and not path.is_file():
            if not (allow_unpinned or unpinned_allowed()):
                raise DatasetError(
                    f"Sample scene {key!r} needs {src['file']} from {src['url']}, whose sha256 "
                    f"is not pinned in napari-ssdgl's registry, so it is not downloaded "
                    f"unverified by default. To accept it, call load_scene({key!r}, "
                    f"allow_unpinned=True) or set {ALLOW_UNPINNED_ENV}=1 (before starting "
                    f"napari), or download it yourself and place it at {path}."
                )
        if src["sha256"] is None and path.is_file():
            local = path
        else:
            local = fetch_file(src["url"], src["sha256"], src["file"], scene=key, cache_dir=folder)
        out.append((read_mat_variable(local, src["variable"], scene=key), src["url"]))
    return tuple(out)
