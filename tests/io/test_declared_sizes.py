"""What a header declares is checked against the file before anything is allocated, mapped or
chunked (``io._common.check_declared``), and every bad ENVI header, declared size or failed
allocation ends in one ``HSIReadError`` naming the file (issue 21, items 1 and 5)."""

from __future__ import annotations

import os
import re
import struct
import subprocess
import sys
import time
import zipfile

import h5py
import numpy as np
import pytest
import scipy.io
import tifffile
import zarr

from napari_ssdgl._napari._reader import LAZY_BYTES_ENV, get_reader
from napari_ssdgl.io import HSIReadError, read_cube, read_path
from napari_ssdgl.io._common import MAX_CHUNK_BYTES, MAX_CHUNKS, MAX_RATIO, check_declared
from napari_ssdgl.io.lazy import LazySource, open_lazy


def _raises(fn, path, match: str) -> HSIReadError:
    with pytest.raises(HSIReadError, match=match) as info:
        fn(path)
    assert str(path) in str(info.value)
    return info.value


def _envi(tmp_path, interleave="bil", name="scene"):
    from spectral.io import envi

    hdr = tmp_path / f"{name}.hdr"
    envi.save_image(str(hdr), np.arange(60, dtype=np.float32).reshape(4, 5, 3), force=True,
                    interleave=interleave)
    return hdr, tmp_path / f"{name}.img"


def _set_field(hdr, key: str, value: str) -> None:
    text = hdr.read_text()
    text, n = re.subn(rf"(?m)^{key}\s*=.*$", f"{key} = {value}", text)
    hdr.write_text(text if n else text + f"{key} = {value}\n")


# -- ENVI ----------------------------------------------------------------------------------------
def test_envi_data_file_shorter_than_the_header_says(tmp_path):
    hdr, img = _envi(tmp_path)
    img.write_bytes(img.read_bytes()[:100])  # spectral's open_memmap returned None here
    for fn in (read_path, open_lazy):
        err = _raises(fn, hdr, "declares 240 bytes of data .* holds only 100")
        assert f"the data file {img} holds only 100" in str(err)
    assert "holds only 100" in str(_raises(read_path, img, "the ENVI header"))  # by its data


def test_envi_list_valued_fields(tmp_path):
    hdr, _ = _envi(tmp_path)
    original = hdr.read_text()
    for key in ("file type", "samples", "interleave", "data type", "byte order"):
        hdr.write_text(original)
        _set_field(hdr, key, "{a, b}")
        for fn in (read_path, open_lazy):
            _raises(fn, hdr, f"header field '{key}' must be a single value, found a list "
                             r"\{a, b\}")


def test_envi_unknown_interleave_is_not_read_as_bsq(tmp_path):
    hdr, _ = _envi(tmp_path)
    _set_field(hdr, "interleave", "xyz")
    for fn in (read_path, open_lazy):
        _raises(fn, hdr, "unknown interleave 'xyz' .expected bsq, bil or bip.")


@pytest.mark.parametrize("key, value, match", [
    ("samples", "abc", "'samples' must be an integer, found 'abc'"),
    ("lines", "0", "'lines' must be at least 1, found 0"),
    ("bands", "-3", "'bands' must be at least 1"),
    ("data type", "7", "unsupported ENVI data type 7"),
    ("byte order", "2", "'byte order' must be 0 or 1"),
    ("header offset", "99999", "holds only 0"),
    ("file type", "ENVI Spectral Library", "spectral library, not an image cube"),
    ("major frame offsets", "{2, 3}", "frame offsets' are not supported"),
])
def test_envi_bad_header_fields(tmp_path, key, value, match):
    hdr, _ = _envi(tmp_path)
    _set_field(hdr, key, value)
    for fn in (read_path, open_lazy):
        _raises(fn, hdr, match)


def test_envi_bad_optional_fields_are_ignored(tmp_path):
    """Wavelengths, units and class tables are not worth refusing a cube over."""
    hdr, _ = _envi(tmp_path)
    _set_field(hdr, "wavelength", "{a, b, c}")
    _set_field(hdr, "wavelength units", "{nm, um}")
    _set_field(hdr, "class lookup", "{x}")
    cube = read_cube(hdr)
    assert cube.bands == 3 and cube.wavelengths is None and cube.wavelength_units is None


def test_envi_missing_field_and_unparseable_header(tmp_path):
    hdr, _ = _envi(tmp_path)
    hdr.write_text("\n".join(ln for ln in hdr.read_text().splitlines()
                             if not ln.startswith("bands")))
    _raises(read_path, hdr, "header field 'bands' is missing")
    hdr.write_text("ENVI\nsamples = {1,\n")  # an unclosed list
    _raises(read_path, hdr, "cannot parse the ENVI header")


# -- declared sizes ------------------------------------------------------------------------------
def _npy_with_header(path, shape, descr="<f4", payload=b""):
    with open(path, "wb") as fh:
        np.lib.format.write_array_header_1_0(
            fh, {"descr": descr, "fortran_order": False, "shape": shape})
        fh.write(payload)
    return path


def test_npy_declaring_a_zero_size_dimension_fails_at_once(tmp_path, monkeypatch):
    """The issue's 128-byte .npy declaring (0, 4294967295): 21 s and 1.2 GB before; now the
    header is refused before any allocation or chunking, by every entry point."""
    path = _npy_with_header(tmp_path / "zero.npy", (0, 4294967295))
    path.write_bytes(path.read_bytes().ljust(128, b"\0"))
    start = time.perf_counter()
    for fn in (read_path, open_lazy):
        _raises(fn, path, r"zero-size dimension \(shape \(0, 4294967295\)\)")
    monkeypatch.setenv(LAZY_BYTES_ENV, "0")
    assert get_reader(str(path)) is None
    assert time.perf_counter() - start < 2


def test_npy_declaring_more_than_the_file_holds(tmp_path):
    path = _npy_with_header(tmp_path / "short.npy", (100, 1000, 1000), payload=b"\0" * 400)
    for fn in (read_path, open_lazy):
        _raises(fn, path, r"declares 400,000,000 bytes of data \(shape \(100, 1000, 1000\) x 4 "
                          r"bytes\) but the file holds only 400")


def _patch_tiff_size(path, width: int, length: int) -> None:
    """Rewrite ImageWidth / ImageLength of the first IFD as LONG values."""
    b = bytearray(path.read_bytes())
    ifd = struct.unpack_from("<I", b, 4)[0]
    for i in range(struct.unpack_from("<H", b, ifd)[0]):
        e = ifd + 2 + 12 * i
        tag = struct.unpack_from("<H", b, e)[0]
        if tag in (256, 257):
            struct.pack_into("<HII", b, e + 2, 4, 1, width if tag == 256 else length)
    path.write_bytes(bytes(b))


def test_tiff_tagged_with_a_huge_size(tmp_path):
    """The issue's small TIFF tagged 2307 x 4294967180 x 5: open_lazy built 16.7 M chunks and
    ``convert`` ran on; now both stop at the tags, and convert leaves nothing behind."""
    from napari_ssdgl.workflows.convert import convert

    path = tmp_path / "tagged.tif"
    tifffile.imwrite(path, np.zeros((3, 4, 5), np.uint8), photometric="minisblack",
                     planarconfig="contig", metadata=None)
    _patch_tiff_size(path, 4294967180, 2307)
    assert path.stat().st_size < 400
    start = time.perf_counter()
    for fn in (read_path, open_lazy):
        _raises(fn, path, r"the TIFF header declares .* \(shape \(2307, 4294967180, 5\)\)")
    with pytest.raises(HSIReadError, match="2307, 4294967180, 5"):
        convert(path, tmp_path / "out.zarr")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tagged.tif"]
    assert time.perf_counter() - start < 5


def test_uncompressed_tiff_larger_than_its_file(tmp_path):
    path = tmp_path / "big.tif"
    tifffile.imwrite(path, np.zeros((3, 4, 5), np.uint8), photometric="minisblack",
                     planarconfig="contig", metadata=None)
    _patch_tiff_size(path, 4000, 3000)  # 60 MB of pixels declared in a 300-byte file
    for fn in (read_path, open_lazy):
        _raises(fn, path, "declares 60,000,000 bytes of data .* but the file holds only")


def test_compressed_member_may_not_claim_more_than_the_ratio_cap(tmp_path):
    """An .npz member (deflated) whose header claims 4 GB: refused before np.load allocates."""
    member = tmp_path / "cube.npy"
    _npy_with_header(member, (1000, 1000, 1000), payload=b"\0" * 1000)
    path = tmp_path / "scene.npz"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.write(member, "cube.npy")
    _raises(read_path, path, f"member 'cube.npy' declares 4,000,000,000 bytes .* more than "
                             f"{MAX_RATIO} times compression")


def test_hdf5_dataset_declaring_more_than_its_file(tmp_path):
    path = tmp_path / "big.mat"
    with h5py.File(path, "w") as f:  # never written: HDF5 stores nothing for it
        f.create_dataset("cube", shape=(200, 10000, 10000), dtype="f4")
        f["cube"].attrs["MATLAB_class"] = np.bytes_("single")
    for fn in (read_path, open_lazy):
        _raises(fn, path, r"dataset 'cube' declares 80,000,000,000 bytes")


def test_mat_v5_variable_declaring_more_than_the_file(tmp_path):
    path = tmp_path / "scene.mat"
    scipy.io.savemat(path, {"cube": np.zeros((4, 5, 3))})
    b = bytearray(path.read_bytes())
    at = b.find(struct.pack("<3i", 4, 5, 3))
    struct.pack_into("<3i", b, at, 40000, 50000, 3000)
    path.write_bytes(bytes(b))
    _raises(read_path, path, r"variable 'cube' declares 48,000,000,000,000 bytes")


def test_lazy_chunk_count_and_chunk_size_caps(tmp_path):
    path = tmp_path / "c.npy"
    np.save(path, np.zeros((2, 1100, 1000), np.uint8))
    assert open_lazy(path, tile=64).data.npartitions == 18 * 16
    _raises(lambda p: open_lazy(p, tile=1), path,
            f"makes 1,100,000 chunks, more than the {MAX_CHUNKS:,}")
    z = tmp_path / "big.zarr"  # metadata only: zarr stores no chunk until it is written
    zarr.open_array(str(z), mode="w", shape=(5, 10**5, 10**5), chunks=(5, 4, 4), dtype="f4")
    _raises(open_lazy, z, "makes 625,000,000 chunks, more than the")
    zarr.open_array(str(z), mode="w", shape=(5, 10**6, 10**6), chunks=(5, 10**5, 10**5),
                    dtype="f4")
    _raises(open_lazy, z, f"more than the {MAX_CHUNK_BYTES:,} one read may take")


def test_zero_size_dimensions_are_errors(tmp_path):
    np.save(tmp_path / "empty.npy", np.zeros((0, 5, 5), np.float32))
    for fn in (read_path, open_lazy):
        _raises(fn, tmp_path / "empty.npy", "zero-size dimension")
    z = tmp_path / "empty.zarr"
    zarr.open_array(str(z), mode="w", shape=(0, 4, 4), chunks=(1, 4, 4), dtype="f4")
    _raises(open_lazy, z, "zero-size dimension")
    with pytest.raises(HSIReadError, match="zero-size"):
        check_declared(tmp_path / "x", (3, 0), 4)
    # an empty extra variable of a MATLAB file is skipped, as before
    scipy.io.savemat(tmp_path / "s.mat", {"cube": np.ones((4, 5, 3)), "nothing": np.zeros((0, 0))})
    assert read_cube(tmp_path / "s.mat").bands == 3


def test_huge_sparse_envi_opens_and_samples_a_bounded_amount(tmp_path, monkeypatch):
    """The issue's 100 000 x 100 000 x 500 ENVI header over a 5 TB sparse file: the napari hook
    grew past 8 GB sampling contrast limits; now a fixed number of small windows is read."""
    hdr, img = _envi(tmp_path, interleave="bsq")
    for key, value in (("samples", "100000"), ("lines", "100000"), ("bands", "500"),
                       ("data type", "1")):
        _set_field(hdr, key, value)
    try:
        with open(img, "r+b") as fh:
            fh.truncate(100000 * 100000 * 500)
    except OSError as exc:
        pytest.skip(f"no 5 TB sparse file here ({exc})")
    read = []
    original = LazySource.__getitem__
    monkeypatch.setattr(LazySource, "__getitem__",
                        lambda self, index: (lambda b: read.append(b.size) or b)(
                            original(self, index)))

    def rss_mb() -> float:
        with open("/proc/self/status") as fh:
            return next(int(ln.split()[1]) for ln in fh if ln.startswith("VmRSS")) / 1024

    before = rss_mb()
    reader = get_reader(str(hdr))  # 5 TB > LAZY_BYTES: opened lazily
    [(data, kwargs, kind)] = reader(str(hdr))
    assert kind == "image" and data.shape == (500, 100000, 100000)
    assert kwargs["metadata"]["lazy"] is True
    assert sum(read) <= 4 * 16 * 32 * 32  # four 32 x 32 windows of 16 bands
    assert rss_mb() - before < 600
    os.remove(img)


# -- MemoryError ---------------------------------------------------------------------------------
def test_memory_error_becomes_hsireaderror(tmp_path, monkeypatch):
    from napari_ssdgl.io import lazy

    np.save(tmp_path / "c.npy", np.zeros((3, 4, 5), np.float32))

    def no_memory(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(np, "load", no_memory)
    _raises(read_path, tmp_path / "c.npy", "not enough memory to read it")
    monkeypatch.setitem(lazy._OPENERS, "npy", no_memory)
    lazy._OPEN.clear()
    _raises(open_lazy, tmp_path / "c.npy", "not enough memory to open it lazily")


# -- MATLAB v5 structures that crash scipy's reader ----------------------------------------------
def test_mat_v5_cell_under_a_numeric_class_is_an_error_not_a_crash(tmp_path):
    """scipy's compiled v5 reader dereferences a NULL dtype for a data element of a
    non-numeric type (here a cell's contents under a 'double' class byte): a segmentation
    fault. The pre-scan refuses the file first. Run in a child process, so that a crash fails
    this test instead of ending the session."""
    path = tmp_path / "cell.mat"
    cell = np.empty((1, 2), dtype=object)
    cell[0, 0], cell[0, 1] = "a", np.arange(3.0)
    scipy.io.savemat(path, {"notes": cell, "cube": np.ones((4, 5, 3))})
    b = bytearray(path.read_bytes())
    at = 128 + 8 + 8  # first variable: its tag, the flags tag, then the flags (class byte)
    assert b[at] == 1  # mxCELL_CLASS
    b[at] = 6  # mxDOUBLE_CLASS
    path.write_bytes(bytes(b))
    code = ("import sys; from napari_ssdgl.io import read_path, HSIReadError\n"
            "try:\n    read_path(sys.argv[1])\nexcept HSIReadError as e:\n    print(e)\n")
    run = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "variable 'notes': a data element of MATLAB type 14 where numbers are expected" in (
        run.stdout)
