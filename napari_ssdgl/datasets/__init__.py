"""Sample scenes: a synthetic scene made in code, and the Indian Pines, Pavia University and
Salinas benchmarks (offline copy or hash-checked download into a user cache).

Sources, hashes, class names, colours and false-colour bands live in
``sample_data/registry.json``. Hash policy: see `napari_ssdgl.datasets._fetch`; in short,
a remote file without a pinned sha256 is downloaded only on explicit request
(``allow_unpinned=True`` or ``NAPARI_SSDGL_ALLOW_UNPINNED=1``). The files of the real scenes
carry no band centres; the registry gives approximate ones for Indian Pines and Salinas (AVIRIS)
and Pavia University (ROSIS), computed from the sensor's band layout (``band_layout``,
``wavelengths_note``); Houston 2013 has none. The synthetic scene has 400-2500 nm.
"""

from napari_ssdgl.datasets._fetch import fetch_file
from napari_ssdgl.datasets._load import load_scene
from napari_ssdgl.datasets._registry import list_scenes, registry, scene_info
from napari_ssdgl.datasets._scene import DatasetError, Scene
from napari_ssdgl.datasets._synthetic import make_synthetic_scene

__all__ = [
    "DatasetError",
    "Scene",
    "fetch_file",
    "list_scenes",
    "load_scene",
    "make_synthetic_scene",
    "registry",
    "scene_info",
]
