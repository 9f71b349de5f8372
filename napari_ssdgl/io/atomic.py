"""Outputs that are complete or absent: written under a temporary name, renamed on success.

A crash, Ctrl-C or a dead dask worker then leaves ``NAME.partial-XXXXXXXX`` (a name no reader
takes for a result), never a ``NAME`` that looks finished.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


@contextmanager
def atomic_output(target: str | Path, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``target`` to write a file or a directory to; on success
    it replaces ``target``, on any error it is removed. ``overwrite`` False: an existing
    ``target`` is a FileExistsError, before anything is written."""
    target = Path(target)
    if target.exists() and not overwrite:
        raise FileExistsError(f"{target}: already exists (pass overwrite to replace it)")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f"{target.name}.partial-{uuid.uuid4().hex[:8]}")
    try:
        yield tmp
    except BaseException:
        _remove(tmp)
        raise
    if target.exists() and (target.is_dir() or tmp.is_dir()):  # a rename replaces only a file
        _remove(target)
    os.replace(tmp, target)
