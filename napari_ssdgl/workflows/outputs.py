"""Every output a command will write, checked before any work starts.

``train``, ``predict``, ``convert``, ``evaluate``, ``reproduce`` and ``demo`` list what they
will write (:class:`Output`: a file, a folder such as ``model/`` or a ``.zarr``, or a
``container``, the run folder or ``--out-dir`` the others go into) and call
:func:`check_outputs` first: a file where a folder is needed (or a folder where a file is), a
folder that cannot be written (read-only, no permission), an output that would replace an
input, or an output that already exists without ``overwrite`` is one :class:`OutputPathError`
before a byte is read or a minute is spent training. The outputs themselves are then written
atomically (:mod:`napari_ssdgl.io.atomic`).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["OVERWRITE_HINT", "Output", "OutputPathError", "check_outputs"]

OVERWRITE_HINT = "pass --overwrite to replace"


class OutputPathError(ValueError):
    """An output path that cannot or may not be written; nothing has been written. A ValueError,
    so the CLI reports it in one line."""


@dataclass(frozen=True)
class Output:
    """One path a command writes. ``kind``: ``"file"``; ``"folder"`` (written whole, e.g.
    ``model/`` or ``out.zarr``; an existing empty folder does not count as an output); or
    ``"container"`` (a folder the other outputs go into: it may exist, and is created if not)."""

    path: Path
    kind: str = "file"

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))
        if self.kind not in ("file", "folder", "container"):
            raise ValueError(f"unknown output kind {self.kind!r}")


def _is_empty_dir(path: Path) -> bool:
    try:
        return path.is_dir() and not any(path.iterdir())
    except OSError:
        return False


def _existing_ancestor(path: Path) -> Path:
    """The nearest ancestor of ``path`` that exists (what its creation depends on)."""
    p = path.absolute().parent
    while not os.path.lexists(p) and p != p.parent:
        p = p.parent
    return p


def probe_writable(directory: Path) -> None:
    """Raise OSError unless a file can be created in ``directory`` (a read-only file system or
    missing permission; ``os.access`` cannot tell the first, nor either for root)."""
    fd, name = tempfile.mkstemp(dir=directory, prefix=".napari-ssdgl-probe-")
    os.close(fd)
    os.unlink(name)


def _where_written(out: Output) -> Path:
    """The folder a new entry is created in to write ``out``: its parent, or the container
    itself when it exists."""
    if out.kind == "container" and out.path.is_dir():
        return out.path
    return out.path.parent if os.path.lexists(out.path.parent) else _existing_ancestor(out.path)


def _listing(paths: list[Path]) -> str:
    names = [p.name + ("/" if p.is_dir() else "") for p in paths]
    return ", ".join(names[:-1]) + f" and {names[-1]}" if len(names) > 1 else names[0]


def check_outputs(outputs: Iterable[Output | str | Path], *, overwrite: bool = False,
                  inputs: Iterable[str | Path] = (), hint: str = OVERWRITE_HINT) -> list[Path]:
    """Check every output before the work starts (see the module docstring); returns the
    paths. Plain paths are files. ``inputs``: paths no output may be. ``hint`` ends the message
    about existing outputs (the dock says it otherwise)."""
    outs = [o if isinstance(o, Output) else Output(Path(o)) for o in outputs]
    sources = {Path(p).resolve() for p in inputs}
    for out in outs:
        if out.kind != "container" and out.path.resolve() in sources:
            raise OutputPathError(f"{out.path}: this output would overwrite an input; "
                                  "choose another output path")
    for out in outs:
        base = _existing_ancestor(out.path)
        if not base.is_dir():
            raise OutputPathError(f"{base}: is a file, not a folder, so {out.path} cannot be "
                                  "written")
        if out.kind == "file" and out.path.is_dir():
            raise OutputPathError(f"{out.path}: is a folder; a file is written there")
        if out.kind != "file" and out.path.exists() and not out.path.is_dir():
            raise OutputPathError(f"{out.path}: is a file, not a folder")
    probed: set[Path] = set()
    for out in outs:
        where = _where_written(out)
        if where in probed:
            continue
        probed.add(where)
        try:
            probe_writable(where)
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise OutputPathError(f"{where}: cannot write there ({reason}), so {out.path} "
                                  "cannot be written") from None
    existing = [o.path for o in outs if o.kind != "container" and os.path.lexists(o.path)
                and not (o.kind == "folder" and _is_empty_dir(o.path))]
    if existing and not overwrite:
        if len(existing) == 1:
            raise OutputPathError(f"{existing[0]}: already exists; {hint} it")
        parents = {p.parent for p in existing}
        where = (f"{existing[0].parent}: already holds {_listing(existing)}"
                 if len(parents) == 1 else
                 f"{len(existing)} outputs already exist ({existing[0]}, ...)")
        raise OutputPathError(f"{where}; {hint} them")
    return [o.path for o in outs]
