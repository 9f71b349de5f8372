"""Apply one model to many cubes: one bad file is reported, not fatal.

Patterns are expanded here as well as by the shell (quoted globs, Windows shells). Files a glob
matches that no reader takes (e.g. the ``.img`` beside an ENVI ``.hdr``) are skipped silently;
a file named explicitly is always tried, and a pattern that matches nothing is a failure.
Output names are the cube's stem, made unique when two cubes share one; :func:`plan_outputs`
names every output before any cube is read, so the CLI can check them all first.
"""

from __future__ import annotations

import glob
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from napari_ssdgl.io.exports import class_map_files, export_prediction, prediction_paths
from napari_ssdgl.prediction.tiling import DEFAULT_OVERLAP
from napari_ssdgl.workflows.outputs import Output
from napari_ssdgl.workflows.progress import progress_bar

__all__ = ["BatchItem", "expand_inputs", "outputs", "plan_outputs", "predict_many"]

GLOB_CHARS = set("*?[")


@dataclass
class BatchItem:
    """One input: where it came from, what was written, or why it failed."""

    source: str
    outputs: list[str] = field(default_factory=list)
    error: str | None = None
    warnings: list[str] = field(default_factory=list)
    shape: tuple[int, int] | None = None
    stem: str | None = None  # the output name, unique in the batch (plan_outputs)
    planned: list[Path] = field(default_factory=list)  # what it will write (plan_outputs)

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict:
        return {"source": self.source, "ok": self.ok, "outputs": self.outputs,
                "error": self.error, "warnings": self.warnings,
                "shape": None if self.shape is None else list(self.shape)}


def expand_inputs(patterns: list[str]) -> list[BatchItem]:
    """Inputs in the order given; globs expanded (sorted); a glob without a match fails."""
    from napari_ssdgl.io import SUFFIXES

    items: list[BatchItem] = []
    seen: set[str] = set()
    for pattern in patterns:
        if GLOB_CHARS & set(pattern):
            matches = sorted(glob.glob(pattern, recursive=True))
            matches = [m for m in matches if Path(m).suffix.lower() in SUFFIXES]
            if not matches:
                items.append(BatchItem(pattern, error="no readable file matches this pattern"))
        else:
            matches = [pattern]
        for m in matches:
            if m not in seen:
                seen.add(m)
                items.append(BatchItem(m))
    return items


def _unique_stem(path: str, used: set[str]) -> str:
    stem = Path(path).stem
    name, n = stem, 2
    while name in used:
        name, n = f"{stem}-{n}", n + 1
    used.add(name)
    return name


def _check_not_input(source: str, paths: list[Path]) -> None:
    """Refuse to write a class map over the cube it came from (same folder, same name; an ENVI
    output's data file over an ENVI input's)."""
    src = Path(source).resolve()
    taken = {src, *(class_map_files(src) if src.suffix.lower() == ".hdr" else [])}
    for path in paths:
        if any(f.resolve() in taken for f in class_map_files(path)):
            raise ValueError(f"{source}: the {path.suffix.lstrip('.')} class map would overwrite "
                             "the input cube; choose another --out-dir")


def plan_outputs(patterns: list[str], out_dir: str | Path, *, formats=("tif",),
                 probabilities: bool = False, uncertainty: bool = False) -> list[BatchItem]:
    """The inputs of a batch (:func:`expand_inputs`), each with the output stem and the files it
    will write in ``out_dir``; an input that cannot be predicted (not found, its output would
    replace it) fails here, before any work. :func:`outputs` lists what the batch writes."""
    items = expand_inputs(patterns)
    used: set[str] = set()
    for item in items:
        if not item.ok:
            continue
        if not Path(item.source).exists():
            item.error = f"{item.source}: file not found"
            continue
        item.stem = _unique_stem(item.source, used)
        item.planned = [Path(p) for p in prediction_paths(
            out_dir, item.stem, formats=formats, probabilities=probabilities,
            uncertainty=uncertainty)]
        try:
            _check_not_input(item.source, item.planned)
        except ValueError as exc:
            item.error = str(exc)
    return items


def outputs(items: list[BatchItem], out_dir: str | Path) -> list[Output]:
    """Every file the planned ``items`` write (ENVI: header and data file), inside the
    container ``out_dir``, for :func:`~napari_ssdgl.workflows.outputs.check_outputs`."""
    files = [Output(f) for it in items if it.ok for p in it.planned for f in class_map_files(p)]
    return [Output(Path(out_dir), "container"), *files]


def predict_many(clf, patterns: list[str] | list[BatchItem], out_dir: str | Path, *,
                 formats=("tif",), probabilities: bool = False, uncertainty: bool = False,
                 tile_size: int | None = None, overlap: int = DEFAULT_OVERLAP, device: str = "auto",
                 tta: bool = False, orthorectify: bool = False,
                 quiet: bool = False) -> list[BatchItem]:
    """Predict every cube and export it into ``out_dir``; returns one item per input.
    ``patterns`` may be the items of :func:`plan_outputs` (made with the same options).
    ``orthorectify``: EMIT cubes on their GLT map grids (any other cube fails its item)."""
    from napari_ssdgl.io import read_cube

    items = patterns if patterns and isinstance(patterns[0], BatchItem) else plan_outputs(
        patterns, out_dir, formats=formats, probabilities=probabilities, uncertainty=uncertainty)
    todo = [it for it in items if it.ok]
    bar = progress_bar(todo, quiet=quiet, desc="predict", unit="cube")
    for item in bar:
        bar.set_postfix_str(Path(item.source).name)
        try:
            cube = read_cube(item.source, orthorectify=orthorectify)
            item.warnings.extend(cube.warnings)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                pred = clf.predict(cube, tile_size=tile_size, overlap=overlap,
                                   device=device, tta=tta)
            item.warnings.extend(str(w.message) for w in caught)
            item.shape = tuple(pred.labels.shape)
            written = export_prediction(
                out_dir, item.stem, pred, formats=formats, geo=cube.geo,
                class_names=clf.class_names, colors=clf.colors, probabilities=probabilities,
                uncertainty=uncertainty)
            item.outputs = [str(p) for p in written]
        except Exception as exc:  # noqa: BLE001 - any failure is this file's, the batch goes on
            message = " ".join(str(exc).split()) or type(exc).__name__
            if item.source not in message:
                message = f"{item.source}: {message}"
            item.error = message
    return items
