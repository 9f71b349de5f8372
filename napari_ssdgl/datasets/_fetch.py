"""Scene files: hash-checked downloads into a user cache, offline package copies, .mat reads.

Hash policy: a download is verified against the registry's sha256. Where the registry has no
hash (null), the download is refused unless the caller passes ``allow_unpinned=True`` (or
``known_hash=None`` to `fetch_file`) or sets ``NAPARI_SSDGL_ALLOW_UNPINNED=1``, so that an
unverified file is never fetched silently. A file already in the cache is used as is.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from pathlib import Path

import numpy as np

from napari_ssdgl.datasets._scene import DatasetError

ALLOW_UNPINNED_ENV = "NAPARI_SSDGL_ALLOW_UNPINNED"
CACHE_ENV = "NAPARI_SSDGL_DATA_DIR"


def default_cache_dir() -> Path:
    """``$NAPARI_SSDGL_DATA_DIR`` if set, else the per-user cache ``pooch.os_cache``."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    import pooch

    return Path(pooch.os_cache("napari-ssdgl"))


def unpinned_allowed() -> bool:
    return os.environ.get(ALLOW_UNPINNED_ENV, "").strip().lower() in {"1", "true", "yes"}


def sha256_of(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fetch_file(url: str, known_hash: str | None, fname: str, *, scene: str,
               cache_dir: str | Path | None = None) -> Path:
    """Download ``url`` into the cache as ``fname`` (once) and return its path.

    ``known_hash`` is a hex sha256 (or pooch's ``"algo:hex"``); ``None`` explicitly accepts an
    unverified file. Any failure (no network, HTTP error, hash mismatch) is a `DatasetError`.
    """
    import pooch

    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    if known_hash is not None and ":" not in known_hash:
        known_hash = f"sha256:{known_hash}"
    try:
        return Path(pooch.retrieve(url, known_hash, fname=fname, path=folder,
                                   progressbar=_progressbar()))
    except Exception as exc:
        if isinstance(exc, ValueError) and "hash" in str(exc).lower():
            raise DatasetError(
                f"Sample scene {scene!r}: {fname} downloaded from {url} does not match its "
                f"pinned hash, so it was discarded ({exc}). The server copy may have changed or "
                f"the download was corrupted: try again later, or place a verified copy at "
                f"{folder / fname}."
            ) from exc
        raise DatasetError(
            f"Sample scene {scene!r}: could not download {fname} from {url} "
            f"({type(exc).__name__}: {exc}). Check the internet connection (or proxy), or "
            f"download the file by hand and place it at {folder / fname}."
        ) from exc


def _progressbar() -> bool:
    return importlib.util.find_spec("tqdm") is not None


def package_file(package: str, relpath: str) -> Path | None:
    """Path of a data file inside an installed package, found without importing the package."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        path = Path(root, relpath)
        if path.is_file():
            return path
    return None


def read_mat_variable(path: str | Path, variable: str, *, scene: str) -> np.ndarray:
    """One variable from a MATLAB file (v5 via scipy, v7.3 via h5py), as MATLAB's shape."""
    import scipy.io

    try:
        try:
            mat = scipy.io.loadmat(path, variable_names=[variable])
        except NotImplementedError:  # v7.3 is HDF5; h5py sees MATLAB's axes reversed
            import h5py

            with h5py.File(path, "r") as f:
                mat = {variable: f[variable][()].T} if variable in f else {}
    except Exception as exc:
        raise DatasetError(
            f"Sample scene {scene!r}: {path} could not be read ({exc}); delete it so that it "
            "is downloaded again."
        ) from exc
    if variable not in mat:
        raise DatasetError(
            f"Sample scene {scene!r}: {path} has no variable {variable!r}; delete it so that "
            "it is downloaded again."
        )
    return np.asarray(mat[variable])
