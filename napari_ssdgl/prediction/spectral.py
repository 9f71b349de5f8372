"""How a cube's bands become a model's input bands: as they are, the model's band selection
taken from a cube of the training sensor, or another sensor's cube resampled to the model's
band centres.

The rule (:func:`plan_bands`), the same on every prediction path (in memory, tiled, dask, the
dock): a cube whose wavelengths match the model's bands (or, without wavelengths on either
side, whose band count does) goes in as it is, or through the model's band selection when it
has the training cube's band count; any other cube with wavelengths is resampled
(:mod:`napari_ssdgl.transforms.resample`: Gaussian from the model's FWHM where known, linear
otherwise) with a warning naming the largest spectral gap, and refused when it does not cover
the model's range or when either side lacks wavelengths.

Before resampling, the cube's own unusable bands are dropped (:func:`unusable_bands`): those
its file flags bad (ENVI ``bbl``, EMIT ``good_wavelengths``, PRISMA flags: ``Cube.bad_bands``)
and those without usable values, so that neither leaks into the model's bands; the model's
bands are then made from the rest, and the warning names the model bands whose response lay
mostly on the dropped ones (filled from the nearest usable bands).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from napari_ssdgl.analysis.band_syntax import format_bands
from napari_ssdgl.analysis.bands import MAX_NONFINITE, nonfinite_share
from napari_ssdgl.analysis.spectra import wavelengths_nm
from napari_ssdgl.transforms.normalize import replace_nonfinite
from napari_ssdgl.transforms.resample import (
    CoverageError,
    apply_matrix,
    largest_gap,
    resampling_matrix,
)

MATCH_NM = 0.5  # band centres this close (nm) are the same band


class BandMismatchError(ValueError):
    """The cube's bands cannot be made into the model's: another band count with no
    wavelengths to resample by, or a spectral range that does not cover the model's."""


@dataclass(frozen=True)
class BandSelection:
    """The bands of the training cube that the model takes (the rest were excluded), kept in
    ``model.json`` so that prediction drops the same bands from a full cube."""

    indices: tuple[int, ...]
    source_bands: int
    reasons: dict[int, str] = field(default_factory=dict)  # why an excluded band went

    def __post_init__(self) -> None:
        idx = tuple(int(i) for i in self.indices)
        if not idx or list(idx) != sorted(set(idx)) or idx[0] < 0 or idx[-1] >= self.source_bands:
            raise ValueError(f"band indices must be increasing, within 0-{self.source_bands - 1}"
                             f"; got {format_bands(idx) or 'none'}")
        object.__setattr__(self, "indices", idx)

    @property
    def excluded(self) -> list[int]:
        return sorted(set(range(self.source_bands)) - set(self.indices))

    def take(self, values):
        """The selected entries of a per-band list (wavelengths, FWHM) or the selected bands of
        a (bands, rows, cols) array (numpy or dask)."""
        if values is None:
            return None
        return values[list(self.indices)] if hasattr(values, "shape") else \
            np.asarray(values)[list(self.indices)]

    def to_json(self) -> dict:
        return {"source_bands": self.source_bands, "indices": list(self.indices),
                "excluded": format_bands(self.excluded),
                "reasons": {str(b): why for b, why in sorted(self.reasons.items())}}


@dataclass(frozen=True)
class BandPlan:
    """What :func:`plan_bands` decided: ``kind`` is "same", "select" or "resample"."""

    kind: str
    bands_in: int
    bands_out: int
    indices: tuple[int, ...] | None = None  # "select"
    matrix: np.ndarray | None = None  # "resample": (model bands, cube bands)
    warning: str | None = None  # for the user: what resampling did

    def apply(self, data):
        """The model's bands of ``data`` (bands, rows, cols): numpy in, numpy out (a copy unless
        "same"); dask in, lazy dask out (resampled block by block, the bands in one chunk)."""
        self._check_bands(data)
        if self.kind == "same":
            return data
        if self.kind == "select":
            return data[list(self.indices)]
        matrix = self.matrix
        if hasattr(data, "map_blocks"):  # dask: one chunk over the bands, resampled per block
            data = data.rechunk({0: -1})
            return data.map_blocks(_resample_block, matrix, dtype=np.float32,
                                   chunks=((matrix.shape[0],), *data.chunks[1:]))
        return _resample_block(data, matrix)

    def view(self, data):
        """The model's bands of ``data`` for reading tile by tile: an in-memory numpy array as
        :meth:`apply` makes them; a lazy one (dask, zarr, HDF5, a memory map) as it is, or a
        :class:`BandView` that selects or resamples each tile as it is read, so the cube is
        never read whole (:meth:`apply` would read every chunk of a dask cube for one tile).
        A tile resampled alone has its NaN/inf replaced by the tile's band means."""
        if self.kind == "same" or (isinstance(data, np.ndarray)
                                   and not isinstance(data, np.memmap)):
            return self.apply(data)
        self._check_bands(data)
        return BandView(data, self.indices, matrix=self.matrix)

    def _check_bands(self, data) -> None:
        if data.shape[0] != self.bands_in:
            raise BandMismatchError(f"the cube has {data.shape[0]} bands; this band plan is for "
                                    f"{self.bands_in}")


class BandView:
    """The bands ``indices`` of a lazy (bands, rows, cols) ``source`` (memory map, zarr, HDF5,
    dask), or all its bands resampled by ``matrix`` (model bands, cube bands) to float32, made
    as windows are read: a band selection or resampling that never loads the scene. It slices
    like the source (all bands of the rows/cols asked for are read, then selected or
    resampled)."""

    def __init__(self, source, indices=None, *, matrix: np.ndarray | None = None) -> None:
        if (indices is None) == (matrix is None):
            raise ValueError("a BandView takes band indices or a resampling matrix")
        self.source, self.matrix = source, matrix
        self.indices = None if indices is None else [int(i) for i in indices]
        bands = len(self.indices) if matrix is None else int(matrix.shape[0])
        self.shape = (bands, *(int(n) for n in source.shape[1:]))
        self.ndim = 3
        self.dtype = (np.dtype(getattr(source, "dtype", np.float32)) if matrix is None
                      else np.dtype(np.float32))
        chunks = getattr(source, "chunksize", None) or getattr(source, "chunks", None)
        if isinstance(chunks, tuple) and len(chunks) == 3:
            self.chunks = (bands, *chunks[1:])  # the rows per read stay aligned

    def __getitem__(self, key):
        key = key if isinstance(key, tuple) else (key,)
        block = np.asarray(self.source[(slice(None), *key[1:])])
        block = block[self.indices] if self.matrix is None else \
            _resample_block(block, self.matrix)
        return block[key[0]]


def _resample_block(block, matrix: np.ndarray) -> np.ndarray:
    """``matrix`` applied to a block with its NaN/inf first replaced by the band mean (a NaN
    would reach every model band through the zero weights)."""
    clean, _ = replace_nonfinite(np.asarray(block))
    return apply_matrix(matrix, clean)


def _nm(values, wavelengths, wl_nm: np.ndarray | None) -> np.ndarray | None:
    """Per-band ``values`` (FWHM) in the wavelengths' units, scaled to nm as they were."""
    if values is None or wl_nm is None:
        return None
    wl = np.asarray(wavelengths, dtype=float)
    scale = float(wl_nm[np.argmax(np.abs(wl))] / wl[np.argmax(np.abs(wl))])
    return np.asarray(values, dtype=float) * scale


def unusable_bands(bands: int, flags=None, data=None) -> dict[str, np.ndarray]:
    """Which of a cube's ``bands`` resampling must not use, by reason (a bool mask each):
    ``"flagged bad by the file"`` (``flags``, True = bad; ignored when not one per band) and
    ``"without usable values"`` (of ``data``, numpy or dask, on its central window: NaN/inf
    in more than ``MAX_NONFINITE`` beyond the cube's typical band, so a swath's empty border,
    NaN in every band, drops none)."""
    masks = {}
    if flags is not None and np.size(flags) == bands:
        masks["flagged bad by the file"] = np.asarray(flags, dtype=bool).ravel()
    if data is not None and int(data.shape[0]) == bands:
        share = nonfinite_share(data)
        masks["without usable values"] = share > np.median(share) + MAX_NONFINITE
    return masks


def plan_bands(bands: int, model_bands: int, *, wavelengths=None, units: str | None = None,
               model_wavelengths=None, model_units: str | None = None, model_fwhm=None,
               selection: BandSelection | None = None, flags=None, data=None) -> BandPlan:
    """How a cube of ``bands`` bands (``wavelengths`` in ``units``) becomes the input of a
    model of ``model_bands`` bands (its ``model_wavelengths``, ``model_fwhm`` in
    ``model_units``, and the ``selection`` it was trained on); see the module docstring.
    ``flags`` (the cube's bad-band flags) and ``data`` (the cube) tell which bands a
    resampling drops first (:func:`unusable_bands`; ``data`` is read only then).
    Raises :class:`BandMismatchError` with the reason."""
    wl = wavelengths_nm(wavelengths, units, bands)
    mwl = wavelengths_nm(model_wavelengths, model_units, model_bands)
    source = selection.source_bands if selection is not None else model_bands
    if wl is not None and mwl is not None:
        if bands == model_bands and np.allclose(wl, mwl, rtol=0, atol=MATCH_NM):
            return BandPlan("same", bands, model_bands)
        if selection is not None and bands == source and np.allclose(
                selection.take(wl), mwl, rtol=0, atol=MATCH_NM):
            return BandPlan("select", bands, model_bands, indices=selection.indices)
        return _resample(bands, wl, mwl, _nm(model_fwhm, model_wavelengths, mwl),
                         unusable_bands(bands, flags, data))
    if bands == model_bands:
        return BandPlan("same", bands, model_bands)
    if selection is not None and bands == source:
        return BandPlan("select", bands, model_bands, indices=selection.indices)
    trained = "" if selection is None else (
        f" (the {source}-band training cube less {len(selection.excluded)} excluded bands)")
    missing = " and ".join(w for w, v in (("the cube", wl), ("the model", mwl)) if v is None)
    raise BandMismatchError(
        f"the cube has {bands} bands but the model was trained on {model_bands}{trained}; "
        f"resampling to the model's bands needs wavelengths on both sides and {missing} "
        f"{'has' if ' and ' not in missing else 'have'} none: apply it only to cubes from the "
        "same sensor and band set, or give the cube its wavelengths")


def _resample(bands: int, wl: np.ndarray, mwl: np.ndarray, fwhm: np.ndarray | None,
              unusable: dict[str, np.ndarray]) -> BandPlan:
    drop = np.zeros(bands, dtype=bool)
    for mask in unusable.values():
        drop |= mask
    keep = np.flatnonzero(~drop)
    dropped = "; ".join(f"{int(m.sum())} {why} (bands {format_bands(np.flatnonzero(m))})"
                        for why, m in unusable.items() if m.any())
    after = f" after dropping the cube's unusable bands: {dropped}" if dropped else ""
    if keep.size < 2:
        raise BandMismatchError(f"cannot resample the cube to the model's bands: "
                                f"{keep.size} of its {bands} bands are usable{after}")
    try:
        kept, method = resampling_matrix(wl[keep], mwl, fwhm, unit=" nm")
    except CoverageError as exc:
        raise BandMismatchError(f"cannot resample the cube to the model's bands: {exc}{after}"
                                ) from None
    matrix = np.zeros((mwl.size, bands), dtype=np.float32)
    matrix[:, keep] = kept
    gap = largest_gap(wl[keep], mwl)
    where = (f"the model's band at {gap.target:g} nm lies between the cube's bands at "
             f"{gap.below:g} and {gap.above:g} nm ({gap.width:.3g} nm apart)" if gap.width
             else "every model band lies on a cube band")
    how = {"Gaussian": "a Gaussian response from the model's FWHM",
           "linear": "linear interpolation"}.get(method, "Gaussian responses (linear where "
                                                          "the cube's bands are too coarse)")
    warning = (f"the cube's {bands} bands ({wl.min():g}-{wl.max():g} nm) were resampled to the "
               f"model's {mwl.size} band centres by {how}; largest spectral gap: {where}")
    if dropped:
        warning += f". Dropped first: {dropped}"
        # what each model band would have taken from the dropped bands with all of them
        lost = resampling_matrix(wl, mwl, fwhm)[0][:, drop].sum(axis=1) > 0.5
        if lost.any():
            lo, hi = float(mwl[lost].min()), float(mwl[lost].max())
            span = f"{lo:g} nm" if lo == hi else f"{lo:g}-{hi:g} nm"
            warning += (f". Model bands with most of their response on dropped bands: "
                        f"{int(lost.sum())} ({span}); they come from the nearest usable "
                        "bands, so the map may be less reliable")
    return BandPlan("resample", bands, int(mwl.size), matrix=matrix, warning=warning)
