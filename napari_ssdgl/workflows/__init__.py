"""Whole runs built from the engine: the paper protocols, reproduce, batch and dask
prediction, conversion to zarr, and the run-folder writer shared by the CLI and the dock."""
