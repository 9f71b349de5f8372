"""`--orthorectify` on train, predict and convert: an EMIT granule on its GLT map grid, so the
class maps and the zarr cube are georeferenced; refused for a cube that is not EMIT."""

import numpy as np
import pytest

from napari_ssdgl.cli import main
from napari_ssdgl.io import read_labels
from napari_ssdgl.io.emit import read_emit
from napari_ssdgl.io.geo import tags_geotransform
from napari_ssdgl.io.zarr_store import open_zarr_cube
from tests.io.products import write_emit

pytestmark = pytest.mark.filterwarnings("ignore:.*non-finite:UserWarning")


@pytest.fixture
def granule(tmp_path):
    path = tmp_path / "EMIT_L2A_RFL_001_20230101T000000_2300100_001.nc"
    write_emit(path, rows=20, cols=16)
    grid = read_emit(path, orthorectify=True)[0]
    gt = np.zeros(grid.spatial_shape, np.uint8)
    gt[1:10, 1:] = 1
    gt[11:, 1:] = 2
    np.save(tmp_path / "gt.npy", gt)
    return path, grid


def test_train_and_predict_on_the_map_grid(granule, tmp_path):
    path, grid = granule
    run = tmp_path / "run"
    assert main(["train", str(path), str(tmp_path / "gt.npy"), "--orthorectify", "--out",
                 str(run), "--preset", "none", "--device", "cpu", "--iterations", "2",
                 "--eval-every", "0", "--split-per-class", "5", "--format", "tif,npy",
                 "--quiet"]) == 0
    assert np.load(run / "class_map.npy").shape == grid.spatial_shape  # the labels' grid
    trained = read_labels(run / "class_map.tif")
    assert tags_geotransform(trained.geo) == pytest.approx(tags_geotransform(grid.geo))
    out = tmp_path / "map.tif"
    assert main(["predict", str(run), str(path), "--orthorectify", "--out", str(out),
                 "--device", "cpu", "--quiet"]) == 0
    predicted = read_labels(out)
    assert predicted.data.shape == grid.spatial_shape
    assert tags_geotransform(predicted.geo) == pytest.approx(tags_geotransform(grid.geo))
    # without the option: the swath, which the grid-sized labels do not fit
    assert main(["predict", str(run), str(path), "--out", str(tmp_path / "swath.tif"),
                 "--device", "cpu", "--quiet"]) == 0
    assert read_labels(tmp_path / "swath.tif").data.shape == (20, 16)


def test_convert_streams_the_map_grid_and_refuses_other_cubes(granule, tmp_path, capsys):
    path, grid = granule
    out = tmp_path / "grid.zarr"
    assert main(["convert", str(path), str(out), "--orthorectify", "--tile", "8",
                 "--quiet"]) == 0
    cube = open_zarr_cube(out)
    np.testing.assert_array_equal(np.asarray(cube.data), grid.data)
    assert tags_geotransform(cube.geo) == pytest.approx(tags_geotransform(grid.geo))
    np.save(tmp_path / "plain.npy", np.zeros((4, 6, 6), np.float32))
    capsys.readouterr()
    assert main(["convert", str(tmp_path / "plain.npy"), str(tmp_path / "p.zarr"),
                 "--orthorectify", "--quiet"]) == 2
    assert "only an EMIT L2A file" in capsys.readouterr().err
    assert not (tmp_path / "p.zarr").exists()
