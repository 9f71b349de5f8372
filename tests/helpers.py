"""Small fixtures shared by the engine tests (pytest puts tests/ on sys.path)."""

import numpy as np

# The smallest SSDGL the width rules allow: trains in milliseconds per iteration on one thread.
TINY = {"widths": (16, 16, 16, 16), "decoder_width": 8, "groups": 4}


def toy_scene(bands: int = 12, size: int = 20, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Three classes (values 1, 4, 9) with distinct spectra plus noise; a border left at 0."""
    rng = np.random.default_rng(seed)
    gt = np.zeros((size, size), dtype=np.int64)
    gt[2:9, 2:18], gt[11:18, 2:9], gt[11:18, 11:18] = 1, 4, 9
    spectra = rng.normal(size=(10, bands)) * 2
    cube = spectra[gt].transpose(2, 0, 1) + rng.normal(size=(bands, size, size)) * 0.3
    return cube.astype(np.float32), gt
