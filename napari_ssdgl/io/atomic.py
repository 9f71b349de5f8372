"""Outputs that are complete or absent: written under a temporary name, renamed on success.

A crash, Ctrl-C or a dead dask worker then leaves ``NAME.partial-XXXXXXXX`` (a name no reader
takes for a result), never a ``NAME`` that looks finished. Writers that choose the format by
the suffix (``np.save``, matplotlib, spectral's ENVI) get ``STEM.partial-XXXXXXXX.SUFFIX``
instead (``keep_suffix``), still a name no one takes for the result.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def partial_name(target: Path, token: str, *, keep_suffix: bool = False) -> Path:
    """The temporary name of ``target`` while it is written: ``NAME.partial-TOKEN``, or with
    ``keep_suffix`` ``STEM.partial-TOKEN.SUFFIX`` (the writer still sees the format)."""
    if keep_suffix and target.suffix:
        return target.with_name(f"{target.stem}.partial-{token}{target.suffix}")
    return target.with_name(f"{target.name}.partial-{token}")


@contextmanager
def atomic_outputs(targets: Sequence[str | Path], *, overwrite: bool = False,
                   keep_suffix: bool = False) -> Iterator[list[Path]]:
    """Temporary paths beside ``targets`` (one token for all, so a writer that derives one name
    from another, ``NAME.hdr`` -> ``NAME.img``, finds its partner); on success each replaces its
    target, in the order given (put the file readers look for last), on any error all are
    removed. ``overwrite`` False: an existing target is a FileExistsError, before anything is
    written."""
    targets = [Path(t) for t in targets]
    for target in targets:
        if target.exists() and not overwrite:
            raise FileExistsError(f"{target}: already exists (pass overwrite to replace it)")
    token = uuid.uuid4().hex[:8]
    tmps = [partial_name(t, token, keep_suffix=keep_suffix) for t in targets]
    for target in targets:
        target.parent.mkdir(parents=True, exist_ok=True)
    try:
        yield tmps
    except BaseException:
        for tmp in tmps:
            _remove(tmp)
        raise
    for tmp, target in zip(tmps, targets, strict=True):
        if target.exists() and (target.is_dir() or tmp.is_dir()):  # a rename replaces a file only
            _remove(target)
        os.replace(tmp, target)


@contextmanager
def atomic_output(target: str | Path, *, overwrite: bool = False,
                  keep_suffix: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``target`` to write a file or a directory to; on success
    it replaces ``target``, on any error it is removed. ``overwrite`` False: an existing
    ``target`` is a FileExistsError, before anything is written. ``keep_suffix``: the
    temporary name ends in ``target``'s suffix (see :func:`partial_name`)."""
    with atomic_outputs([target], overwrite=overwrite, keep_suffix=keep_suffix) as (tmp,):
        yield tmp
