"""Per-band FWHM and the file's bad-band flags: read from ENVI headers (``fwhm``, ``bbl``), kept
through the lazy reader, a zarr conversion and the napari layer metadata."""

from __future__ import annotations

import numpy as np
import pytest

from napari_ssdgl.io import Cube, read_cube
from napari_ssdgl.io.lazy import open_lazy
from napari_ssdgl.io.zarr_store import open_zarr_cube, write_zarr_cube

WL = [400.0, 500.0, 600.0, 700.0]
FWHM = [9.5, 10.0, 10.5, 11.0]


def _envi(tmp_path, *, extra: str = "") -> str:
    data = np.arange(4 * 3 * 5, dtype=np.float32).reshape(4, 3, 5)
    (tmp_path / "s.img").write_bytes(data.tobytes())
    hdr = tmp_path / "s.hdr"
    hdr.write_text("ENVI\nsamples = 5\nlines = 3\nbands = 4\ndata type = 4\ninterleave = bsq\n"
                   "byte order = 0\nwavelength units = Nanometers\n"
                   f"wavelength = {{{', '.join(map(str, WL))}}}\n{extra}")
    return str(hdr)


def test_envi_fwhm_and_bbl_reach_the_cube_and_its_metadata(tmp_path):
    hdr = _envi(tmp_path, extra=f"fwhm = {{{', '.join(map(str, FWHM))}}}\nbbl = {{1, 0, 1, 0}}\n")
    for cube in (read_cube(hdr), open_lazy(hdr)):
        np.testing.assert_allclose(cube.fwhm, FWHM)
        assert cube.bad_bands.tolist() == [False, True, False, True]
        md = cube.metadata()
        assert md["fwhm"] == FWHM and md["bad_bands"] == [False, True, False, True]


def test_envi_without_fwhm_or_bbl_has_none(tmp_path):
    cube = read_cube(_envi(tmp_path))
    assert cube.fwhm is None and cube.bad_bands is None
    assert "fwhm" not in cube.metadata() and "bad_bands" not in cube.metadata()


def test_envi_band_lists_of_the_wrong_length_are_dropped_with_a_note(tmp_path):
    cube = read_cube(_envi(tmp_path, extra="fwhm = {10, 10}\nbbl = {1, 1, 1}\n"))
    assert cube.fwhm is None and cube.bad_bands is None
    assert "ignored 2 FWHM values for 4 bands" in cube.warnings
    assert "ignored 3 bad-band flags for 4 bands" in cube.warnings


def test_zarr_round_trip_keeps_fwhm_and_bad_bands(tmp_path):
    cube = open_lazy(_envi(tmp_path, extra="fwhm = {9.5, 10, 10.5, 11}\nbbl = {0, 1, 1, 1}\n"))
    back = open_zarr_cube(write_zarr_cube(cube, tmp_path / "c.zarr"))
    np.testing.assert_allclose(back.fwhm, FWHM)
    assert back.bad_bands.tolist() == [True, False, False, False]


def test_cube_refuses_per_band_values_for_another_cube():
    with pytest.raises(ValueError, match="3 per-band values for a cube of 4 bands"):
        Cube(np.zeros((4, 2, 2)), fwhm=[1.0, 2.0, 3.0])
