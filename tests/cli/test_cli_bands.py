"""The command line's bad bands and other sensors: ``bands``, ``train --bands/--exclude-bands``,
and ``predict`` dropping the same bands, resampling another sensor's cube with a warning, or
refusing a cube short of the model's range (in memory and on the dask path)."""

import json

import numpy as np
import pytest
import torch

from napari_ssdgl.cli import main
from tests.cli.test_cli import one_error_line
from tests.spectral_scenes import AVIRIS_FWHM, AVIRIS_WL, resampled, scene, write_envi

TRAIN = ["train", "--preset", "none", "--device", "cpu", "--iterations", "3", "--eval-every",
         "0"]
GRID = np.arange(400.0, 2501.0, 10.0)  # another sensor: a 10 nm grid
VNIR = np.arange(400.0, 1001.0, 10.0)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("bands")
    cube, gt = scene()
    bbl = np.ones(200)
    bbl[0] = 0  # the file flags band 0
    write_envi(d / "aviris.hdr", cube, AVIRIS_WL, AVIRIS_FWHM, bbl)
    write_envi(d / "grid.hdr", resampled(cube, AVIRIS_WL, GRID, np.full(GRID.size, 10.0)), GRID)
    write_envi(d / "vnir.hdr", resampled(cube, AVIRIS_WL, VNIR), VNIR)
    write_envi(d / "bare.hdr", cube[:150])  # no wavelengths, another band count
    np.save(d / "gt.npy", gt)
    return d


@pytest.fixture(scope="module")
def trained(files):
    torch.set_num_threads(1)
    out = files / "run"
    assert main([*TRAIN, str(files / "aviris.hdr"), str(files / "gt.npy"), "--out", str(out),
                 "--exclude-bands", "auto,1-2", "--quiet"]) == 0
    return out


def test_bands_lists_the_suspect_bands(files, capsys):
    assert main(["bands", str(files / "aviris.hdr")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("24 suspect bands of 200: 0 flagged bad by the file; 91-99 water "
                          "absorption 1350-1450 nm, low SNR")
    assert "to leave them out: --exclude-bands auto (= 0,91-99,133-146)" in out
    assert main(["bands", str(files / "aviris.hdr"), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["bands"] == 200 and doc["exclude_bands"] == "0,91-99,133-146"
    assert doc["reasons"]["0"] == ["flagged bad by the file"] and len(doc["snr"]) == 200
    assert main(["bands", str(files / "missing.hdr")]) == 2
    assert "file not found" in one_error_line(capsys)


def test_train_records_the_excluded_bands(trained):
    meta = json.loads((trained / "model" / "model.json").read_text())
    sel = meta["band_selection"]
    assert sel["source_bands"] == 200 and sel["excluded"] == "0-2,91-99,133-146"
    assert sel["reasons"]["0"] == "flagged bad by the file"
    assert sel["reasons"]["1"] == "excluded by the user"
    assert sel["reasons"]["95"].startswith("water absorption 1350-1450 nm, low SNR")
    assert meta["bands"] == 200 - 26 and len(meta["wavelengths"]) == 174
    assert meta["wavelengths"][0] == pytest.approx(AVIRIS_WL[3], abs=1e-3)
    assert meta["wavelength_units"] == "Nanometers" and meta["fwhm"][0] == pytest.approx(10.6)


@pytest.mark.parametrize("option, text, words", [
    ("--exclude-bands", "5-2", "--exclude-bands: '5-2': a range runs from low to high"),
    ("--bands", "0-250", "--bands: '0-250': band 250 does not exist; the cube has 200 bands, "
                         "0-199 (for wavelengths add nm: 0-250nm)"),
    ("--bands", "3", "--bands: the band selection leaves 1 of 200 bands"),
    ("--exclude-bands", "1,x", "--exclude-bands: 'x' is not a band item"),
])
def test_train_refuses_a_bad_band_list(files, tmp_path, capsys, option, text, words):
    assert main([*TRAIN, str(files / "aviris.hdr"), str(files / "gt.npy"), "--out",
                 str(tmp_path / "r"), option, text]) == 2
    assert words in one_error_line(capsys)
    assert not (tmp_path / "r" / "model").exists()


def test_predict_drops_the_same_bands_from_the_training_sensor(files, trained, tmp_path,
                                                               capsys):
    assert main(["predict", str(trained), str(files / "aviris.hdr"), "--out",
                 str(tmp_path / "a.npy"), "--device", "cpu"]) == 0
    assert "warning" not in capsys.readouterr().err
    assert np.load(tmp_path / "a.npy").shape == (24, 24)


def test_predict_resamples_another_sensor_with_a_warning(files, trained, tmp_path, capsys):
    assert main(["predict", str(trained), str(files / "grid.hdr"), "--out",
                 str(tmp_path / "g.npy"), "--device", "cpu"]) == 0
    err = capsys.readouterr().err
    assert f"napari-ssdgl: warning: {files / 'grid.hdr'}: the cube's 211 bands (400-2500 nm) " \
           "were resampled to the model's 174 band centres by a Gaussian response from the " \
           "model's FWHM; largest spectral gap: the model's band at 431.658 nm lies between " \
           "the cube's bands at 430 and 440 nm (10 nm apart)" in err
    assert np.load(tmp_path / "g.npy").shape == (24, 24)


def test_predict_refuses_a_cube_short_of_the_models_range(files, trained, tmp_path, capsys):
    assert main(["predict", str(trained), str(files / "vnir.hdr"), "--out",
                 str(tmp_path / "v.npy"), "--device", "cpu"]) == 2
    line = one_error_line(capsys)
    assert f"{files / 'vnir.hdr'}: cannot resample the cube to the model's bands: the cube's " \
           "bands cover 400-1000 nm but the model's span 431.658-2500 nm" in line
    assert not (tmp_path / "v.npy").exists()
    assert main(["predict", str(trained), str(files / "bare.hdr"), "--out",
                 str(tmp_path / "b.npy"), "--device", "cpu"]) == 2
    assert "the cube has 150 bands but the model was trained on 174 (the 200-band training " \
           "cube less 26 excluded bands)" in one_error_line(capsys)


def test_batch_predict_plans_each_cube(files, trained, tmp_path, capsys):
    assert main(["predict", str(trained), str(files / "grid.hdr"), str(files / "vnir.hdr"),
                 "--out-dir", str(tmp_path / "maps"), "--format", "npy", "--device", "cpu"]) == 1
    err = capsys.readouterr().err
    assert "were resampled to the model's 174 band centres" in err
    assert "vnir.hdr: cannot resample the cube to the model's bands" in err
    assert (tmp_path / "maps" / "grid.npy").exists()


def test_dask_predict_resamples_and_refuses_the_same_way(files, trained, tmp_path, capsys):
    zarr = pytest.importorskip("zarr")
    assert main(["predict", str(trained), str(files / "grid.hdr"), "--out",
                 str(tmp_path / "g.zarr"), "--device", "cpu", "--quiet"]) == 0
    group = zarr.open_group(str(tmp_path / "g.zarr"), mode="r")
    labels = np.asarray(group["labels"])
    assert labels.shape == (24, 24)
    assert main(["predict", str(trained), str(files / "grid.hdr"), "--out",
                 str(tmp_path / "g2.zarr"), "--device", "cpu"]) == 0
    assert "were resampled to the model's 174 band centres" in capsys.readouterr().err
    assert main(["predict", str(trained), str(files / "vnir.hdr"), "--out",
                 str(tmp_path / "v.zarr"), "--device", "cpu"]) == 2
    assert "cannot resample the cube to the model's bands" in one_error_line(capsys)
    assert not (tmp_path / "v.zarr").exists()
    # the in-memory map of the same cube agrees
    main(["predict", str(trained), str(files / "grid.hdr"), "--out", str(tmp_path / "m.npy"),
          "--device", "cpu", "--quiet"])
    assert (labels == np.load(tmp_path / "m.npy")).mean() > 0.95
