"""Fuzz inputs for the readers: small valid files of every format they take, ways to damage
them (byte flips, truncation, header edits that know each format's layout), and one function
that feeds a file to every entry point and records what came out.

Shared by ``tests/io/test_fuzz_readers.py`` (hypothesis, in process, a bounded number of
examples) and ``benchmarks/fuzz_readers.py`` (thousands of cases, each in a child process with
an address-space limit and a timeout). Every mutation is driven by a ``random.Random``, so a
case is reproducible from its seed.
"""

from __future__ import annotations

import io
import json
import os
import random
import shutil
import struct
import warnings
import zipfile
import zlib
from pathlib import Path

import numpy as np

FORMATS = ("npy", "npz", "mat5", "mat73", "envi", "tiff", "png", "zarr")
MUTATIONS = ("flip", "truncate", "header")
# calls whose only allowed failure is HSIReadError; "lazy_read" may also raise ChunkReadError
# (a chunk that cannot be read once the cube is open); "get_reader" must never raise
LIBRARY_CALLS = ("read_path", "read_cube", "read_labels", "open_lazy")

INTERESTING = (0, 1, 2, 3, 7, 255, 256, 4095, 65535, 65536, 2**31 - 1, 2**31, 2**32 - 1, 2**32,
               2**40, 2**62, 2**63 - 1, 2**64 - 1, -1, -(2**31))

ROWS, COLS, BANDS = 12, 10, 5


# -- seeds ---------------------------------------------------------------------------------------
def make_seeds(root: str | Path) -> dict[str, list[Path]]:
    """Write the valid seed files under ``root`` (one folder per seed); returns, per format,
    the path each seed is opened by (a file, an ENVI header, a zarr directory)."""
    root = Path(root)
    rng = np.random.default_rng(0)
    cube = (rng.random((ROWS, COLS, BANDS)) * 100).astype(np.float32)  # rows, cols, bands
    gt = rng.integers(0, 4, size=(ROWS, COLS)).astype(np.uint8)
    wl = np.linspace(400.0, 900.0, BANDS)
    seeds: dict[str, list[Path]] = {f: [] for f in FORMATS}

    def folder(fmt: str, name: str) -> Path:
        d = root / fmt / name
        d.mkdir(parents=True, exist_ok=True)
        return d

    # .npy: bands last, bands first big-endian, a label raster, Fortran order
    for name, arr in (("cube", cube), ("first", np.moveaxis(cube, 2, 0).astype(">u2")),
                      ("labels", gt), ("fortran", np.asfortranarray(cube.astype(np.float64)))):
        path = folder("npy", name) / f"{name}.npy"
        np.save(path, arr)
        seeds["npy"].append(path)
    # .npz: stored and deflated
    for name, save in (("stored", np.savez), ("deflated", np.savez_compressed)):
        path = folder("npz", name) / "scene.npz"
        save(path, cube=cube, gt=gt, wavelengths=wl)
        seeds["npz"].append(path)
    # MATLAB v5: uncompressed and compressed, with a cell and a struct beside the arrays
    import scipy.io

    for name, compress in (("plain", False), ("compressed", True)):
        path = folder("mat5", name) / "scene.mat"
        cell = np.empty((1, 2), dtype=object)
        cell[0, 0], cell[0, 1] = "a", np.arange(3.0)
        scipy.io.savemat(path, {"data": cube, "gt": gt, "wavelength": wl, "notes": cell,
                                "info": {"sensor": "x", "n": 5}}, do_compression=compress)
        seeds["mat5"].append(path)
    # MATLAB v7.3 (HDF5, column-major): contiguous with a MATLAB user block, chunked + gzip,
    # and a plain HDF5 file (lazy reader only)
    import h5py

    for name, kw, block in (("contiguous", {}, True),
                            ("chunked", {"chunks": (BANDS, 4, 4), "compression": "gzip"}, False)):
        path = folder("mat73", name) / "scene.mat"
        with h5py.File(path, "w", userblock_size=512 if block else 0) as f:
            f.create_dataset("data", data=cube.T, **kw)
            f["data"].attrs["MATLAB_class"] = np.bytes_("single")
            f.create_dataset("gt", data=gt.T)
            f["gt"].attrs["MATLAB_class"] = np.bytes_("uint8")
            f.create_dataset("wavelength", data=wl[None, :].T)
            f["wavelength"].attrs["MATLAB_class"] = np.bytes_("double")
        if block:
            with open(path, "r+b") as fh:
                fh.write(b"MATLAB 7.3 MAT-file, Platform: GLNXA64, created by fuzz_inputs".ljust(
                    116, b" "))
        seeds["mat73"].append(path)
    path = folder("mat73", "plain_h5") / "scene.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("cube", data=np.moveaxis(cube, 2, 0), chunks=(BANDS, 6, 5))
    seeds["mat73"].append(path)
    # ENVI: BSQ float32, BIP big-endian uint16, BIL int16 behind a header offset, a
    # classification
    from spectral.io import envi

    md = {"wavelength": list(wl), "wavelength units": "nm"}
    path = folder("envi", "bsq") / "scene.hdr"
    envi.save_image(str(path), cube, interleave="bsq", metadata=md, force=True)
    seeds["envi"].append(path)
    path = folder("envi", "bip") / "scene.hdr"
    envi.save_image(str(path), (cube * 10).astype(np.uint16), interleave="bip", byteorder=1,
                    metadata=md, force=True)
    seeds["envi"].append(path)
    d = folder("envi", "bil_offset")
    envi.save_image(str(d / "scene.hdr"), (cube * 10).astype(np.int16), interleave="bil",
                    metadata=md, force=True)
    raw = (d / "scene.img").read_bytes()
    (d / "scene.img").write_bytes(b"\xab" * 64 + raw)
    text = (d / "scene.hdr").read_text().replace("header offset = 0", "header offset = 64")
    (d / "scene.hdr").write_text(text)
    seeds["envi"].append(d / "scene.hdr")
    path = folder("envi", "classes") / "classes.hdr"
    envi.save_classification(str(path), gt, class_names=["none", "a", "b", "c"],
                             class_colors=[[0, 0, 0], [255, 0, 0], [0, 255, 0], [0, 0, 255]],
                             force=True)
    seeds["envi"].append(path)
    # TIFF: planar (SYX), contiguous (YXS), a page stack without metadata, tiled + zlib, a
    # label raster, a GeoTIFF
    import tifffile

    bands_first = np.ascontiguousarray(np.moveaxis(cube, 2, 0))
    for name, arr, kw in (
        ("planar", bands_first, {"photometric": "minisblack", "planarconfig": "separate"}),
        ("contig", cube, {"photometric": "minisblack", "planarconfig": "contig"}),
        ("pages", bands_first, {"photometric": "minisblack", "metadata": None}),
        ("tiled_zlib", np.zeros((BANDS, 32, 32), np.float32) + bands_first[:, :1, :1],
         {"photometric": "minisblack", "planarconfig": "separate", "tile": (16, 16),
          "compression": "zlib"}),
        ("labels", gt, {}),
        ("geotiff", bands_first, {"photometric": "minisblack", "planarconfig": "separate",
                                  "extratags": [(33550, "d", 3, (30.0, 30.0, 0.0), True)]}),
    ):
        path = folder("tiff", name) / f"{name}.tif"
        tifffile.imwrite(path, arr, **kw)
        seeds["tiff"].append(path)
    # PNG: palette, grey, 16-bit grey
    from PIL import Image

    for name, img in (("palette", Image.fromarray(gt, mode="P")),
                      ("grey", Image.fromarray(gt)),
                      ("grey16", Image.fromarray(gt.astype(np.uint16) * 1000))):
        if name == "palette":
            img.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255] + [0] * (256 * 3 - 12))
        path = folder("png", name) / f"{name}.png"
        img.save(path)
        seeds["png"].append(path)
    # zarr: a cube as this library writes it (format 3, several chunks), format 2, a group
    # holding 'cube', and a prediction output (group with a 2-D 'labels')
    import zarr

    from napari_ssdgl.io import Cube
    from napari_ssdgl.io.zarr_store import write_zarr_cube

    path = folder("zarr", "cube") / "scene.zarr"
    write_zarr_cube(Cube(bands_first, wavelengths=wl, name="scene"), path, tile=4)
    seeds["zarr"].append(path)
    path = folder("zarr", "v2") / "scene.zarr"
    z = zarr.open_array(str(path), mode="w", shape=bands_first.shape, chunks=(BANDS, 6, 5),
                        dtype="f4", zarr_format=2)
    z[:] = bands_first
    z.attrs.update({"wavelengths": list(wl), "complete": True})
    seeds["zarr"].append(path)
    path = folder("zarr", "group") / "scene.zarr"
    g = zarr.open_group(str(path), mode="w")
    g.create_array("cube", shape=bands_first.shape, chunks=(BANDS, 6, 5), dtype="f4")[:] = (
        bands_first)
    seeds["zarr"].append(path)
    path = folder("zarr", "prediction") / "map.zarr"
    g = zarr.open_group(str(path), mode="w")
    g.create_array("labels", shape=gt.shape, chunks=(6, 5), dtype="u1")[:] = gt
    g.attrs.update({"complete": True, "class_names": {"1": "a"}, "colors": {"1": "#ff0000"}})
    seeds["zarr"].append(path)
    return seeds


# -- cases ---------------------------------------------------------------------------------------
def make_case(seed_entry: Path, seeds_root: Path, dest: Path, mutation: str,
              rng: random.Random) -> tuple[Path, str]:
    """Copy the seed's folder to ``dest`` and damage one of its files; returns the path to open
    and a short description of what was done."""
    src_dir = seed_entry.parent  # each seed has a folder of its own
    rel = seed_entry.relative_to(src_dir)
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(src_dir, dest)
    entry = dest / rel
    files = sorted(p for p in dest.rglob("*") if p.is_file())
    meta = [p for p in files if p.suffix.lower() == ".hdr" or p.name in _ZARR_META]
    if mutation == "header" and meta:
        target = rng.choice(meta)
    elif meta and rng.random() < 0.5:
        target = rng.choice(meta)
    else:
        target = rng.choice(files)
    data = target.read_bytes()
    kind = _kind(target)
    if mutation == "flip":
        new, what = flip(data, rng)
    elif mutation == "truncate":
        new, what = truncate(data, rng)
    else:
        new, what = HEADER_EDITS.get(kind, _edit_ints)(data, rng)
    target.write_bytes(new)
    return entry, f"{mutation} {target.relative_to(dest)}: {what}"


_ZARR_META = ("zarr.json", ".zarray", ".zattrs", ".zgroup")


def _kind(path: Path) -> str:
    if path.name in _ZARR_META:
        return "json"
    return {".npy": "npy", ".npz": "npz", ".mat": "mat", ".h5": "hdf5", ".hdr": "envi",
            ".tif": "tiff", ".png": "png"}.get(path.suffix.lower(), "data")


def flip(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """Overwrite or bit-flip a few bytes, half the time inside the first 512 (the header)."""
    b = bytearray(data)
    if not b:
        return b"\x00", "empty file given one byte"
    n = rng.choice((1, 1, 2, 3, 4, 8, 16))
    span = min(len(b), 512) if rng.random() < 0.5 else len(b)
    at = sorted(rng.randrange(span) for _ in range(n))
    for i in at:
        b[i] = rng.randrange(256) if rng.random() < 0.5 else b[i] ^ (1 << rng.randrange(8))
    return bytes(b), f"{n} byte(s) at {at[:4]}"


def truncate(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """Cut the file short (often inside the header), or pad it with zeros."""
    if rng.random() < 0.1:
        extra = rng.choice((1, 7, 4096))
        return data + b"\x00" * extra, f"padded by {extra}"
    cut = rng.randrange(min(len(data), 600)) if rng.random() < 0.5 else rng.randrange(
        max(1, len(data)))
    return data[:cut], f"cut to {cut} of {len(data)}"


def _dims(rng: random.Random, ndim: int | None = None) -> tuple[int, ...]:
    ndim = rng.choice((0, 1, 2, 3, 3, 3, 4)) if ndim is None else ndim
    return tuple(rng.choice(INTERESTING) if rng.random() < 0.6 else rng.randrange(1, 64)
                 for _ in range(ndim))


def _edit_ints(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """Write interesting 2/4/8-byte integers at aligned places in the first 4 KiB."""
    b = bytearray(data)
    width = rng.choice((2, 4, 8))
    span = min(len(b), 4096) - width
    if span <= 0:
        return flip(data, rng)
    done = []
    for _ in range(rng.choice((1, 1, 2, 4))):
        at = rng.randrange(span) // width * width
        value = rng.choice(INTERESTING) % (1 << (8 * width))
        b[at:at + width] = value.to_bytes(width, rng.choice(("little", "big")))
        done.append((at, value))
    return bytes(b), f"{width}-byte ints {done[:3]}"


def _edit_npy(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """A new header dict (shape, dtype, order) or a damaged one, over the old payload."""
    from numpy.lib import format as npformat

    fh = io.BytesIO(data)
    try:
        version = npformat.read_magic(fh)
        hlen = struct.unpack("<H" if version == (1, 0) else "<I",
                             fh.read(2 if version == (1, 0) else 4))[0]
        header = fh.read(hlen)
        payload = data[fh.tell():]
        d = eval(header.decode("latin1"), {"__builtins__": {}})  # noqa: S307 (our own seed)
    except Exception:
        return flip(data, rng)
    choice = rng.randrange(5)
    if choice == 0:
        d["shape"] = _dims(rng)
    elif choice == 1:
        d["descr"] = rng.choice(("<f8", "|O", ">u2", "<c16", "|V8", "<U4", "|b1", "<M8[s]",
                                 "|S0", "<f2", [("a", "<f4"), ("b", "<i2")]))
    elif choice == 2:
        d["fortran_order"] = not d["fortran_order"]
        d["shape"] = tuple(reversed(d["shape"]))
    elif choice == 3:
        shape = list(d["shape"])
        if shape:
            shape[rng.randrange(len(shape))] = rng.choice(INTERESTING)
        d["shape"] = tuple(shape)
    else:  # damaged text
        text = bytearray(header)
        del text[rng.randrange(len(text))]
        return data[:6] + bytes([1, 0]) + struct.pack("<H", len(text)) + bytes(text) + payload, (
            "header text damaged")
    out = io.BytesIO()
    try:
        npformat.write_array_header_1_0(out, d) if rng.random() < 0.8 else (
            npformat.write_array_header_2_0(out, d))
    except Exception:
        return flip(data, rng)
    return out.getvalue() + payload, f"header {d}"


def _edit_npz(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """Rebuild the archive with one member's .npy header edited (valid CRCs)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            members = [(i, zf.read(i)) for i in zf.infolist()]
    except Exception:
        return flip(data, rng)
    k = rng.randrange(len(members))
    info, body = members[k]
    body, what = _edit_npy(body, rng)
    members[k] = (info, body)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for i, b in members:
            zf.writestr(i, b, compress_type=i.compress_type)
    return out.getvalue(), f"member {info.filename}: {what}"


def _edit_envi(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """Change, drop or add one header field."""
    lines = data.decode("latin1").splitlines()
    key = rng.choice(("samples", "lines", "bands", "data type", "interleave", "byte order",
                      "header offset", "file type", "wavelength", "class names", "class lookup",
                      "major frame offsets", "description"))
    value = rng.choice((
        str(rng.choice(INTERESTING)), str(-rng.randrange(1, 9)), "{a, b}", "{1, 2}", "xyz", "",
        "1e3", "abc", "{", "{}", "ENVI Spectral Library", "ENVI Classification", "bip", "bil",
        "{" + ", ".join(str(rng.randrange(300)) for _ in range(rng.randrange(1, 20))) + "}",
        "\u00e9\u4e2d", str(rng.randrange(1, 20)),
    ))
    found = [i for i, ln in enumerate(lines) if ln.partition("=")[0].strip().lower() == key]
    what = rng.randrange(4)
    if found and what == 0:
        del lines[found[0]]
        return ("\n".join(lines) + "\n").encode("latin1"), f"removed '{key}'"
    if found and what < 3:
        i = found[0]
        end = i
        if "{" in lines[i] and "}" not in lines[i]:  # a multi-line list
            while end + 1 < len(lines) and "}" not in lines[end]:
                end += 1
        lines[i:end + 1] = [f"{key} = {value}"]
    else:
        lines.insert(rng.randrange(1, len(lines) + 1), f"{key} = {value}")
    return ("\n".join(lines) + "\n").encode("utf-8"), f"'{key} = {value}'"


def _edit_json(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """Replace or drop one value of a zarr metadata document (or damage its text)."""
    try:
        doc = json.loads(data)
    except ValueError:
        return flip(data, rng)
    paths: list[tuple] = []

    def walk(node, path):
        if isinstance(node, dict):
            for k, v in node.items():
                paths.append((*path, k))
                walk(v, (*path, k))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                paths.append((*path, i))
                walk(v, (*path, i))

    walk(doc, ())
    if not paths or rng.random() < 0.1:
        text = bytearray(data)
        del text[rng.randrange(len(text))]
        return bytes(text), "text damaged"
    path = rng.choice(paths)
    parent = doc
    for k in path[:-1]:
        parent = parent[k]
    value = rng.choice((
        rng.choice(INTERESTING), list(_dims(rng, 3)), list(_dims(rng)), [0, 5, 5], None, "abc",
        "float64", "int8", "|O", "<f4", True, False, {"name": "bytes"}, [], {}, 1.5, "NaN",
        [2**40, 2**40, 2**40],
    ))
    if isinstance(parent, list) or rng.random() < 0.85:
        parent[path[-1]] = value
        what = f"{'/'.join(map(str, path))} = {value!r}"
    else:
        del parent[path[-1]]
        what = f"removed {'/'.join(map(str, path))}"
    return json.dumps(doc).encode(), what


def _edit_tiff(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """Give one entry of the first IFD a new type/count/value (classic little-endian TIFF)."""
    if len(data) < 16 or data[:4] != b"II*\x00":
        return _edit_ints(data, rng)
    b = bytearray(data)
    ifd = struct.unpack_from("<I", b, 4)[0]
    if ifd + 2 > len(b):
        return _edit_ints(data, rng)
    n = struct.unpack_from("<H", b, ifd)[0]
    entries = [ifd + 2 + 12 * i for i in range(n) if ifd + 14 + 12 * i <= len(b)]
    if not entries or rng.random() < 0.1:
        struct.pack_into("<I", b, 4, rng.choice(INTERESTING) % 2**32)
        return bytes(b), "first IFD offset changed"
    e = rng.choice(entries)
    tag = struct.unpack_from("<H", b, e)[0]
    part = rng.randrange(3)
    if part == 0:
        struct.pack_into("<HI", b, e + 2, 4, 1)
        struct.pack_into("<I", b, e + 8, rng.choice(INTERESTING) % 2**32)
        what = "LONG value"
    elif part == 1:
        struct.pack_into("<I", b, e + 4, rng.choice(INTERESTING) % 2**32)
        what = "count"
    else:
        struct.pack_into("<I", b, e + 8, rng.choice(INTERESTING) % 2**32)
        what = "value/offset"
    return bytes(b), f"tag {tag}: {what}"


def _edit_png(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """A new IHDR field (width, height, bit depth, colour type, interlace) with a valid CRC."""
    if len(data) < 33 or data[12:16] != b"IHDR":
        return flip(data, rng)
    ihdr = bytearray(data[16:29])
    field = rng.randrange(5)
    if field < 2:
        struct.pack_into(">I", ihdr, 4 * field, rng.choice(INTERESTING) % 2**32)
    else:
        ihdr[{2: 8, 3: 9, 4: 12}[field]] = rng.choice((0, 1, 2, 3, 4, 6, 8, 16, 255))
    crc = struct.pack(">I", zlib.crc32(b"IHDR" + bytes(ihdr)) & 0xFFFFFFFF)
    return data[:16] + bytes(ihdr) + crc + data[33:], f"IHDR field {field}"


def _edit_hdf5(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """Rewrite a dataset's dimensions where they are stored (8-byte little-endian runs equal to
    a seed's shape), else interesting integers in the metadata."""
    b = bytearray(data)
    shapes = [(BANDS, COLS, ROWS), (COLS, ROWS), (BANDS, ROWS, COLS), (1, BANDS), (BANDS, 1),
              (BANDS, 4, 4), (BANDS, 6, 5)]
    hits = []
    for shape in shapes:
        for fmt in ("<" + "Q" * len(shape), "<" + "I" * len(shape)):
            pat = struct.pack(fmt, *shape)
            at = b.find(pat)
            while at != -1:
                hits.append((at, fmt, len(shape)))
                at = b.find(pat, at + 1)
    if not hits or rng.random() < 0.25:
        return _edit_ints(data, rng)
    at, fmt, ndim = rng.choice(hits)
    width = struct.calcsize(fmt[1])
    dims = [d % (1 << (8 * width)) for d in _dims(rng, ndim)]
    struct.pack_into(fmt, b, at, *dims)
    return bytes(b), f"dims at {at} -> {dims}"


def _edit_mat(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """MATLAB: v7.3 files are HDF5; v5 files get one variable's dims (or class) rewritten,
    inside its zlib stream when the variable is compressed."""
    if b"\x89HDF\r\n\x1a\n" in (data[:8], data[512:520]):
        return _edit_hdf5(data, rng)
    elements = []
    at = 128
    while at + 8 <= len(data):
        mtype, nbytes = struct.unpack_from("<II", data, at)
        elements.append((at, mtype, nbytes))
        at += 8 + nbytes + (-nbytes % 8 if mtype != 15 else 0)
    matrices = [e for e in elements if e[1] in (14, 15) and e[0] + 8 + e[2] <= len(data)]
    if not matrices:
        return _edit_ints(data, rng)
    at, mtype, nbytes = rng.choice(matrices)
    body = data[at + 8:at + 8 + nbytes]
    if mtype == 15:
        try:
            inner = zlib.decompress(body)
        except zlib.error:
            return _edit_ints(data, rng)
        inner, what = _edit_matrix(inner, rng, tagged=True)
        body = zlib.compress(inner)
        return data[:at] + struct.pack("<II", 15, len(body)) + body + data[at + 8 + nbytes:], (
            f"compressed {what}")
    new, what = _edit_matrix(data[at:at + 8 + nbytes], rng, tagged=True)
    return data[:at] + new + data[at + 8 + nbytes:], what


def _edit_matrix(elem: bytes, rng: random.Random, *, tagged: bool) -> tuple[bytes, str]:
    """An miMATRIX element (its 8-byte tag first) with new dims or a new class."""
    b = bytearray(elem)
    # tag(8) | flags tag(8) flags(8) | dims tag(8) dims(4 * n, padded)
    if len(b) < 40:
        return bytes(b), "too short to edit"
    if rng.random() < 0.2:
        b[16] = rng.choice((0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 13, 14, 15, 16, 17, 255))
        return bytes(b), f"class byte {b[16]}"
    dtype, nbytes = struct.unpack_from("<II", b, 24)
    n = min(nbytes // 4, (len(b) - 32) // 4)
    if rng.random() < 0.2 and n:
        struct.pack_into("<I", b, 28, rng.choice(INTERESTING) % 2**32)
        return bytes(b), "dims byte count"
    dims = [d % 2**32 for d in _dims(rng, n)]
    struct.pack_into("<" + "I" * n, b, 32, *dims)
    return bytes(b), f"dims -> {dims}"


HEADER_EDITS = {"npy": _edit_npy, "npz": _edit_npz, "envi": _edit_envi, "json": _edit_json,
                "tiff": _edit_tiff, "png": _edit_png, "hdf5": _edit_hdf5, "mat": _edit_mat}


# -- one case ------------------------------------------------------------------------------------
def exercise(path: str | Path) -> dict[str, str]:
    """Feed ``path`` to the library readers, to ``open_lazy`` (and read a corner of what it
    opened) and to the napari hook (in memory and, with ``NAPARI_SSDGL_LAZY_BYTES=0``,
    lazily). Returns each call's outcome: 'ok', an allowed error's type, or
    'Type: message' for anything else."""
    from napari_ssdgl._napari._reader import LAZY_BYTES_ENV, get_reader
    from napari_ssdgl.io import HSIReadError, read_cube, read_labels, read_path
    from napari_ssdgl.io.lazy import open_lazy
    from napari_ssdgl.io.zarr_store import ChunkReadError

    path = Path(path)
    out: dict[str, str] = {}
    lazy = None

    def record(name, fn, allowed=(HSIReadError,)):
        try:
            result = fn()
        except allowed as exc:
            out[name] = type(exc).__name__ if isinstance(exc, ChunkReadError) else "HSIReadError"
            return None
        except BaseException as exc:  # noqa: BLE001 - the point is to see everything
            if isinstance(exc, KeyboardInterrupt):
                raise
            out[name] = f"{type(exc).__name__}: {exc}"[:300]
            return None
        out[name] = "ok"
        return result

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        record("read_path", lambda: read_path(path))
        record("read_cube", lambda: read_cube(path))
        record("read_labels", lambda: read_labels(path))
        lazy = record("open_lazy", lambda: open_lazy(path, tile=8))
        if lazy is not None:
            record("lazy_read", lambda: lazy.data[:, :3, :3].compute(scheduler="sync"),
                   allowed=(HSIReadError, ChunkReadError))
        old = os.environ.get(LAZY_BYTES_ENV)
        for name, env in (("get_reader", None), ("get_reader_lazy", "0")):
            if env is None:
                os.environ.pop(LAZY_BYTES_ENV, None)
            else:
                os.environ[LAZY_BYTES_ENV] = env
            try:
                record(name, lambda: (lambda r: r(str(path)) if r else None)(get_reader(
                    str(path))), allowed=())
            finally:
                if old is None:
                    os.environ.pop(LAZY_BYTES_ENV, None)
                else:
                    os.environ[LAZY_BYTES_ENV] = old
    return out


def failures(outcome: dict[str, str]) -> dict[str, str]:
    """The calls of one case whose outcome is not allowed."""
    allowed = {"ok", "HSIReadError", "ChunkReadError"}
    return {k: v for k, v in outcome.items() if v not in allowed}
