"""Synthetic scenes from imaging spectrometers with known band centres and FWHM, and a small
ENVI writer for them: the cross-sensor and bad-band tests share them
(``from tests.spectral_scenes import ...``)."""

from pathlib import Path

import numpy as np

from napari_ssdgl.transforms.resample import resampling_matrix

AVIRIS_WL = np.linspace(400.0, 2500.0, 200)  # AVIRIS-like: 200 bands, ~10.6 nm apart
AVIRIS_FWHM = np.full(200, 10.6)
BOXES = ((2, 10, 2, 22, 1), (12, 22, 2, 10, 3), (12, 22, 13, 22, 7))


def smooth_spectra(wl_nm: np.ndarray, classes: int, seed: int = 0) -> np.ndarray:
    """(classes + 1, bands) reflectance-like spectra, smooth in wavelength (a few broad
    Gaussian features each), with the water-absorption windows dark: the same material seen by
    any sensor."""
    rng = np.random.default_rng(seed)
    out = np.zeros((classes + 1, wl_nm.size))
    for k in range(classes + 1):
        centres = rng.uniform(400, 2500, 4)
        widths = rng.uniform(150, 400, 4)
        depths = rng.uniform(0.1, 0.4, 4)
        out[k] = 0.2 + sum(d * np.exp(-0.5 * ((wl_nm - c) / w) ** 2)
                           for c, w, d in zip(centres, widths, depths, strict=True))
    water = ((wl_nm >= 1350) & (wl_nm <= 1450)) | ((wl_nm >= 1800) & (wl_nm <= 1950))
    out[:, water] *= 0.05
    return out


def narrow_spectra(wl_nm: np.ndarray, classes: int, seed: int = 0) -> np.ndarray:
    """(classes + 1, bands) spectra that share one brightness and shape and differ only by a few
    narrow absorption features (20-40 nm wide): a model of them depends on where each band
    lies, so feeding it another sensor's bands unresampled fails."""
    rng = np.random.default_rng(seed)
    out = np.tile(0.3 + 0.05 * np.sin(wl_nm / 300.0), (classes + 1, 1))
    for k in range(classes + 1):
        for centre in rng.uniform(450, 2400, 3):
            out[k] -= 0.1 * np.exp(-0.5 * ((wl_nm - centre) / rng.uniform(20, 40)) ** 2)
    return out


def scene(wl_nm: np.ndarray = AVIRIS_WL, size: int = 24, seed: int = 0, noise: float = 0.01,
          *, narrow: bool = False, layout: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(cube, gt)``: three rectangular classes on a background (``layout``: 4 x 4 pixel
    blocks of the classes and background drawn with that seed, so that a model must learn the
    spectra, not where classes lie), the spectra of :func:`smooth_spectra` (``narrow``:
    :func:`narrow_spectra`) at ``wl_nm`` plus pixel noise; float32 cube (bands, rows, cols)."""
    gt = np.zeros((size, size), np.uint8)
    if layout is None:
        for r0, r1, c0, c1, v in BOXES:
            gt[r0:r1, c0:c1] = v
    else:
        blocks = np.random.default_rng(layout).choice([0, 1, 3, 7], size=(size // 4,) * 2)
        gt[:] = np.kron(blocks, np.ones((4, 4), np.uint8))
    spectra = (narrow_spectra if narrow else smooth_spectra)(wl_nm, 7, seed)
    rng = np.random.default_rng(seed + 1)
    cube = spectra[gt].transpose(2, 0, 1) + rng.normal(scale=noise, size=(wl_nm.size, *gt.shape))
    return cube.astype(np.float32), gt


def resampled(cube: np.ndarray, wl_nm: np.ndarray, to_nm: np.ndarray, fwhm=None) -> np.ndarray:
    """``cube`` as a sensor with band centres ``to_nm`` (and ``fwhm``) would record it."""
    matrix, _ = resampling_matrix(wl_nm, to_nm, fwhm)
    return (matrix @ cube.reshape(cube.shape[0], -1)).reshape(to_nm.size, *cube.shape[1:])


def write_envi(path: Path, cube: np.ndarray, wl_nm=None, fwhm=None, bbl=None) -> Path:
    """A float32 BSQ ENVI file (``path`` is the .hdr) with wavelengths in nm, FWHM and a bad-band
    list when given."""
    data = path.with_suffix("")
    data.write_bytes(np.ascontiguousarray(cube, dtype="<f4").tobytes())
    bands, rows, cols = cube.shape
    lines = ["ENVI", f"samples = {cols}", f"lines = {rows}", f"bands = {bands}",
             "header offset = 0", "file type = ENVI Standard", "data type = 4",
             "interleave = bsq", "byte order = 0"]
    for key, values in (("wavelength", wl_nm), ("fwhm", fwhm), ("bbl", bbl)):
        if values is not None:
            lines.append(f"{key} = {{ {', '.join(f'{v:g}' for v in values)} }}")
    if wl_nm is not None:
        lines.append("wavelength units = Nanometers")
    path.write_text("\n".join(lines) + "\n")
    return path
