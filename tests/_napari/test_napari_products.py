"""napari's reader opens mission products through the registry (EMIT .nc, PRISMA .he5, an
EnMAP folder or its XML, an AVIRIS-NG data file); the layer metadata carries FWHM and bad
bands; a damaged product is explained, not raised."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest

from napari_ssdgl._napari._reader import LAZY_BYTES_ENV, get_reader
from tests.io.products import write_aviris_ng, write_emit, write_enmap, write_prisma

pytestmark = pytest.mark.filterwarnings("ignore:.*non-finite:UserWarning")


def _layer(path):
    reader = get_reader(str(path))
    assert reader is not None, path
    (data, kwargs, kind), *_ = reader(str(path))
    assert kind == "image"
    return data, kwargs["metadata"]


def test_products_open_as_cube_layers(tmp_path):
    write_emit(tmp_path / "emit.nc")
    write_prisma(tmp_path / "prisma.he5")
    enmap = write_enmap(tmp_path / "enmap")
    aviris = write_aviris_ng(tmp_path / "aviris")
    for path, bands, bad in ((tmp_path / "emit.nc", 8, [2, 5]),
                             (tmp_path / "prisma.he5", 9, [1]),
                             (tmp_path / "enmap", 4, None), (enmap["xml"], 4, None),
                             (aviris["data"], 5, [1])):
        data, md = _layer(path)
        assert data.shape[0] == bands and len(md["wavelengths"]) == bands
        assert len(md["fwhm"]) == bands
        if bad is None:
            assert "bad_bands" not in md
        else:
            assert np.flatnonzero(md["bad_bands"]).tolist() == bad


def test_big_products_open_lazily(tmp_path, monkeypatch):
    monkeypatch.setenv(LAZY_BYTES_ENV, "0")
    write_emit(tmp_path / "emit.nc")
    write_prisma(tmp_path / "prisma.he5")
    for name in ("emit.nc", "prisma.he5"):
        data, md = _layer(tmp_path / name)
        assert isinstance(data, da.Array) and md["lazy"] is True and "fwhm" in md


def test_damaged_product_is_explained(tmp_path):
    write_emit(tmp_path / "emit.nc")
    raw = (tmp_path / "emit.nc").read_bytes()
    cut = tmp_path / "cut.nc"
    cut.write_bytes(raw[: len(raw) // 2])
    with pytest.warns(UserWarning, match="could not read .*cut.nc"):
        assert get_reader(str(cut)) is None
