"""Apply one model to many cubes: one bad file is reported, not fatal.

Patterns are expanded here as well as by the shell (quoted globs, Windows shells). Files a glob
matches that no reader takes (e.g. the ``.img`` beside an ENVI ``.hdr``) are skipped silently;
a file named explicitly is always tried, and a pattern that matches nothing is a failure.
Output names are the cube's stem, made unique when two cubes share one.
"""

from __future__ import annotations

import glob
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from napari_ssdgl.io.exports import export_prediction
from napari_ssdgl.prediction.tiling import DEFAULT_OVERLAP
from napari_ssdgl.workflows.progress import progress_bar

__all__ = ["BatchItem", "expand_inputs", "predict_many"]

GLOB_CHARS = set("*?[")


@dataclass
class BatchItem:
    """One input: where it came from, what was written, or why it failed."""

    source: str
    outputs: list[str] = field(default_factory=list)
    error: str | None = None
    warnings: list[str] = field(default_factory=list)
    shape: tuple[int, int] | None = None

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


def _check_not_input(source: str, out_dir: Path, stem: str, formats) -> None:
    """Refuse to write a class map over the cube it came from (same folder, same name)."""
    src = Path(source).resolve()
    for fmt in formats:
        if (out_dir / f"{stem}.{fmt}").resolve() == src:
            raise ValueError(f"{source}: the {fmt} class map would overwrite the input cube; "
                             "choose another --out-dir")


def predict_many(clf, patterns: list[str], out_dir: str | Path, *, formats=("tif",),
                 probabilities: bool = False, uncertainty: bool = False,
                 tile_size: int | None = None, overlap: int = DEFAULT_OVERLAP, device: str = "auto",
                 tta: bool = False, quiet: bool = False) -> list[BatchItem]:
    """Predict every cube and export it into ``out_dir``; returns one item per input."""
    from napari_ssdgl.io import read_cube

    items = expand_inputs(patterns)
    used: set[str] = set()
    todo = [it for it in items if it.ok]
    bar = progress_bar(todo, quiet=quiet, desc="predict", unit="cube")
    for item in bar:
        bar.set_postfix_str(Path(item.source).name)
        try:
            if not Path(item.source).exists():
                raise FileNotFoundError(f"{item.source}: file not found")
            stem = _unique_stem(item.source, used)
            _check_not_input(item.source, Path(out_dir), stem, formats)
            cube = read_cube(item.source)
            item.warnings.extend(cube.warnings)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                pred = clf.predict(cube.data, tile_size=tile_size, overlap=overlap,
                                   device=device, tta=tta)
            item.warnings.extend(str(w.message) for w in caught)
            item.shape = tuple(pred.labels.shape)
            written = export_prediction(
                out_dir, stem, pred, formats=formats, geo=cube.geo,
                class_names=clf.class_names, colors=clf.colors, probabilities=probabilities,
                uncertainty=uncertainty)
            item.outputs = [str(p) for p in written]
        except Exception as exc:  # noqa: BLE001 - any failure is this file's, the batch goes on
            message = " ".join(str(exc).split()) or type(exc).__name__
            if item.source not in message:
                message = f"{item.source}: {message}"
            item.error = message
    return items
