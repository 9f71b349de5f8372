"""io.jsonio and io.atomic: the one JSON conversion and the one complete-or-absent output."""

import json

import numpy as np
import pytest

from napari_ssdgl.io.atomic import atomic_output
from napari_ssdgl.io.jsonio import jsonable, write_json


def test_jsonable_turns_numpy_and_int_keys_into_json():
    value = {1: np.arange(3, dtype=np.int64), "t": (np.float32(0.5), [np.int16(2)]),
             "m": np.eye(2, dtype=np.float32), "none": None}
    assert jsonable(value) == {"1": [0, 1, 2], "t": [0.5, [2]], "m": [[1.0, 0.0], [0.0, 1.0]],
                               "none": None}
    json.dumps(jsonable(value))


def test_write_json_round_trips(tmp_path):
    path = write_json(tmp_path / "a.json", {"x": np.array([1.5, np.nan])})
    assert np.isnan(json.loads(path.read_text(encoding="utf-8"))["x"][1])


@pytest.mark.parametrize("as_dir", [False, True])
def test_atomic_output_replaces_on_success_and_cleans_up_on_failure(tmp_path, as_dir):
    target = tmp_path / "sub" / "out.zarr"

    def write(p, text):
        if as_dir:
            p.mkdir()
            (p / "data").write_text(text)
        else:
            p.write_text(text)

    def read():
        return (target / "data" if as_dir else target).read_text()

    with atomic_output(target) as tmp:
        assert tmp.parent == target.parent and ".partial-" in tmp.name
        write(tmp, "one")
    assert read() == "one"
    with pytest.raises(FileExistsError):
        with atomic_output(target):
            pass
    with pytest.raises(RuntimeError), atomic_output(target, overwrite=True) as tmp:
        write(tmp, "two")
        raise RuntimeError("crash")
    assert read() == "one" and sorted(p.name for p in target.parent.iterdir()) == ["out.zarr"]
    with atomic_output(target, overwrite=True) as tmp:
        write(tmp, "three")
    assert read() == "three"
