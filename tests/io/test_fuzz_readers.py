"""Fuzzing the readers: byte flips, truncation and header edits of small valid files of every
format (``tests/io/fuzz_inputs.py``) fed to ``read_path``/``read_cube``/``read_labels``,
``open_lazy`` (plus a small read of what it opened) and the napari hook ``get_reader``: only
``HSIReadError`` may come out of the library calls (``ChunkReadError`` from the read after
opening), and ``get_reader`` never raises.

A default run takes :data:`EXAMPLES` examples per format (a few hundred in all, well under a
minute on two cores). Maintainers run ``pytest tests/io/test_fuzz_readers.py
--hypothesis-profile=long`` (1000 per format, the profile in ``tests/conftest.py``); the
isolated long run (a child process per case with an address-space limit and a timeout) is
``benchmarks/fuzz_readers.py``.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from tests.io.fuzz_inputs import (  # noqa: E402
    FORMATS,
    MUTATIONS,
    exercise,
    failures,
    make_case,
    make_seeds,
)

EXAMPLES = 40  # per format in a default run
_loaded = settings.default.max_examples  # the profile pytest loaded (--hypothesis-profile)
_examples = EXAMPLES if _loaded == settings.get_profile("default").max_examples else _loaded
FUZZ = settings(max_examples=_examples, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def seeds(tmp_path_factory) -> tuple[Path, dict[str, list[Path]]]:
    root = tmp_path_factory.mktemp("fuzz_seeds")
    return root, make_seeds(root)


def test_every_seed_reads_cleanly(seeds):
    """The seeds are valid files: no call fails on them, and each format's seeds give a cube or
    labels through the library readers."""
    _, by_format = seeds
    for fmt, entries in by_format.items():
        for entry in entries:
            outcome = exercise(entry)
            assert failures(outcome) == {}, (fmt, entry, outcome)
            assert outcome["get_reader"] == "ok", (fmt, entry, outcome)
            lazy_only = fmt == "zarr" or entry.suffix == ".h5"  # no in-memory reader for these
            assert outcome["open_lazy" if lazy_only else "read_path"] == "ok" or (
                entry.name == "map.zarr"), (fmt, entry, outcome)  # a prediction: labels


@pytest.mark.parametrize("fmt", FORMATS)
@FUZZ
@given(rng=st.randoms(use_true_random=False), mutation=st.sampled_from(MUTATIONS))
def test_damaged_files_end_in_hsireaderror(seeds, fmt, rng, mutation):
    root, by_format = seeds
    case = Path(tempfile.mkdtemp(dir=root, prefix=f"case_{fmt}_"))
    try:
        seed = rng.choice(by_format[fmt])
        entry, what = make_case(seed, root, case / "files", mutation, rng)
        wrong = failures(exercise(entry))
        assert wrong == {}, f"{fmt} seed {seed.parent.name}, {what}: {wrong}"
    finally:
        shutil.rmtree(case, ignore_errors=True)
