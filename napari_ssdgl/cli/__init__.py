"""The ``napari-ssdgl`` command line: :mod:`.parser` (arguments and help), :mod:`.commands` (the
command bodies), :mod:`.dask_commands` (``convert`` and dask ``predict``, only with the dask
extra). :func:`main` is the console script."""

from __future__ import annotations

import sys

from napari_ssdgl.cli.parser import PROG, build_parser, dask_cli

__all__ = ["build_parser", "main"]


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``napari-ssdgl`` console script; returns the exit status."""
    from napari_ssdgl.cli import commands

    args = build_parser().parse_args(argv)
    command = (dask_cli().run_convert if args.command == "convert"
               else getattr(commands, args.command))
    try:
        with commands.cli_warnings(bool(getattr(args, "quiet", False))):
            if getattr(args, "threads", None):
                import torch

                torch.set_num_threads(args.threads)
            return command(args)
    except (ValueError, OSError) as exc:  # every user-facing error type derives from these
        message = " ".join(str(exc).split()) or type(exc).__name__
        print(f"{PROG}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\n{PROG}: interrupted", file=sys.stderr)
        return 130
