"""The one preflight of every output (workflows.outputs.check_outputs) and the atomic writers
behind it: nothing is replaced without overwrite, nothing half-written is left behind."""

import os

import numpy as np
import pytest

from napari_ssdgl.io import read_labels, write_class_map
from napari_ssdgl.io.exports import export_prediction, write_float_tiff, write_png
from napari_ssdgl.workflows import outputs as outputs_module
from napari_ssdgl.workflows.batch import outputs, plan_outputs
from napari_ssdgl.workflows.outputs import Output, OutputPathError, check_outputs
from napari_ssdgl.workflows.reproduce import reproduce_outputs
from napari_ssdgl.workflows.rundir import run_outputs


def snapshot(root):
    """Every file under ``root``: its bytes and modification time."""
    return {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(root.rglob("*"))
            if p.is_file()}


def test_new_outputs_pass_and_nothing_is_created(tmp_path):
    paths = check_outputs([tmp_path / "a" / "b.tif", Output(tmp_path / "m", "folder"),
                           Output(tmp_path / "run", "container")])
    assert paths[0] == tmp_path / "a" / "b.tif"
    assert list(tmp_path.iterdir()) == []  # a check, not a writer (its probe leaves nothing)


def test_an_existing_output_is_refused_unless_overwrite(tmp_path):
    (tmp_path / "map.tif").write_bytes(b"old")
    with pytest.raises(OutputPathError, match=r"map\.tif: already exists; pass --overwrite"):
        check_outputs([tmp_path / "map.tif"])
    check_outputs([tmp_path / "map.tif"], overwrite=True)
    assert (tmp_path / "map.tif").read_bytes() == b"old"


def test_several_existing_outputs_are_named_together(tmp_path):
    before = {}
    run = tmp_path / "run"
    (run / "model").mkdir(parents=True)
    (run / "model" / "model.json").write_text("{}")
    (run / "metrics.json").write_text("{}")
    before = snapshot(tmp_path)
    with pytest.raises(OutputPathError) as info:
        check_outputs(run_outputs(run))
    message = str(info.value)
    assert message.startswith(f"{run}: already holds ") and "model/" in message
    assert "metrics.json" in message and "pass --overwrite to replace them" in message
    assert snapshot(tmp_path) == before


def test_an_empty_folder_is_no_output_yet(tmp_path):
    (tmp_path / "run" / "model").mkdir(parents=True)
    check_outputs(run_outputs(tmp_path / "run"))  # an empty model/ holds nothing to lose


def test_file_where_a_folder_is_needed_and_the_reverse(tmp_path):
    (tmp_path / "f").write_text("a file")
    with pytest.raises(OutputPathError, match=r"f: is a file, not a folder"):
        check_outputs(run_outputs(tmp_path / "f"), overwrite=True)
    with pytest.raises(OutputPathError, match="is a file, not a folder"):
        check_outputs([tmp_path / "f" / "sub" / "map.tif"], overwrite=True)
    with pytest.raises(OutputPathError, match="is a file, not a folder"):
        check_outputs([Output(tmp_path / "f", "folder")], overwrite=True)
    (tmp_path / "d").mkdir()
    with pytest.raises(OutputPathError, match="d: is a folder; a file is written there"):
        check_outputs([tmp_path / "d"], overwrite=True)
    assert (tmp_path / "f").read_text() == "a file"


def test_an_output_may_not_be_an_input(tmp_path):
    (tmp_path / "cube.npy").write_bytes(b"x")
    with pytest.raises(OutputPathError, match="would overwrite an input"):
        check_outputs([tmp_path / "cube.npy"], overwrite=True, inputs=[tmp_path / "cube.npy"])


def test_a_folder_that_cannot_be_written(tmp_path, monkeypatch):
    locked = tmp_path / "locked"
    locked.mkdir()
    if os.geteuid() == 0:  # root writes anywhere: stand in for a read-only file system
        real = outputs_module.probe_writable

        def probe(directory):
            if directory == locked:
                raise OSError(30, "Read-only file system")
            real(directory)

        monkeypatch.setattr(outputs_module, "probe_writable", probe)
    else:
        locked.chmod(0o555)
    try:
        with pytest.raises(OutputPathError, match=r"locked: cannot write there \("):
            check_outputs(run_outputs(locked / "run"))
        with pytest.raises(OutputPathError, match="cannot write there"):
            check_outputs([locked / "map.tif"])
    finally:
        locked.chmod(0o755)


def test_batch_plan_names_every_output_before_any_work(tmp_path):
    (tmp_path / "a.npy").write_bytes(b"x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.npy").write_bytes(b"x")
    items = plan_outputs([str(tmp_path / "a.npy"), str(tmp_path / "sub" / "a.npy"),
                          str(tmp_path / "none.npy")], tmp_path / "maps",
                         formats=("tif", "hdr"), probabilities=True)
    assert [it.stem for it in items] == ["a", "a-2", None]
    assert items[2].error.endswith("none.npy: file not found")
    names = sorted(o.path.name for o in outputs(items, tmp_path / "maps")[1:])
    assert names == ["a-2.hdr", "a-2.img", "a-2.tif", "a-2_probabilities.tif", "a.hdr", "a.img",
                     "a.tif", "a_probabilities.tif"]
    (tmp_path / "maps").mkdir()
    (tmp_path / "maps" / "a-2.img").write_bytes(b"old")
    with pytest.raises(OutputPathError, match=r"a-2\.img: already exists"):
        check_outputs(outputs(items, tmp_path / "maps"))


def test_reproduce_outputs_cover_each_seed_and_the_summary(tmp_path):
    names = {o.path.relative_to(tmp_path).as_posix()
             for o in reproduce_outputs(tmp_path, [0, 3], report=True)}
    assert {"seed_0/metrics.json", "seed_3/report.png", "summary.json", "summary.md"} <= names
    assert "seed_0/model" not in names  # only with save_models


# -- the writers: complete or absent -----------------------------------------------------------
@pytest.mark.parametrize("suffix", [".tif", ".npy", ".hdr"])
def test_class_map_writers_leave_no_partial_and_keep_the_old_file_on_failure(
        tmp_path, suffix, monkeypatch):
    labels = np.array([[1, 2], [3, 4]], np.uint8)
    path = tmp_path / f"map{suffix}"
    write_class_map(path, labels)
    assert np.array_equal(read_labels(path).data, labels)
    before = snapshot(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["map.hdr", "map.img"] if suffix == ".hdr" else [path.name])

    import tifffile
    from spectral.io import envi

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "save", broken)
    monkeypatch.setattr(tifffile, "imwrite", broken)
    monkeypatch.setattr(envi, "save_classification", broken)
    with pytest.raises(OSError, match="disk full"):
        write_class_map(path, labels * 2)
    assert snapshot(tmp_path) == before  # the old map as it was, no .partial left


def test_pngs_and_float_tiffs_are_written_atomically(tmp_path, monkeypatch):
    write_png(tmp_path / "map.png", np.array([[1, 2], [2, 1]]))
    write_float_tiff(tmp_path / "p.tif", np.zeros((2, 3, 3), np.float32))
    before = snapshot(tmp_path)
    from matplotlib.figure import Figure

    def broken(self, *args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(Figure, "savefig", broken)
    with pytest.raises(OSError, match="disk full"):
        write_png(tmp_path / "map.png", np.array([[2, 2], [2, 1]]))
    assert snapshot(tmp_path) == before


def test_report_png_is_written_atomically(tmp_path, monkeypatch):
    from matplotlib.figure import Figure

    from napari_ssdgl.analysis.metrics import classification_metrics
    from napari_ssdgl.analysis.reports import write_report

    gt = np.array([[1, 2], [2, 1]])
    m = classification_metrics(gt, gt)
    write_report(tmp_path / "report.png", gt, gt, m)
    before = snapshot(tmp_path)

    def broken(self, *args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(Figure, "savefig", broken)
    with pytest.raises(OSError):
        write_report(tmp_path / "report.png", gt, gt, m)
    assert snapshot(tmp_path) == before


def test_export_prediction_names_match_prediction_paths(tmp_path):
    from napari_ssdgl.io.exports import prediction_paths
    from napari_ssdgl.prediction import Prediction

    probs = np.random.default_rng(0).random((2, 3, 4)).astype(np.float32)
    pred = Prediction.from_probabilities(probs / probs.sum(0), np.array([1, 5]))
    written = export_prediction(tmp_path, "s", pred, formats=("tif", "png"), probabilities=True,
                                uncertainty=True)
    assert written == prediction_paths(tmp_path, "s", formats=("tif", "png"),
                                       probabilities=True, uncertainty=True)
    assert all(p.is_file() for p in written)
    assert not [p for p in tmp_path.iterdir() if ".partial-" in p.name]
