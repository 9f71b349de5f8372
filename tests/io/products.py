"""Small files with the real structure of mission products (EMIT L2A, PRISMA L2D, EnMAP L2A,
AVIRIS-NG ENVI), built in a test's tmp_path; every value is known so readers can be checked."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import tifffile

WKT_4326 = ('GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563,'
            'AUTHORITY["EPSG","7030"]],AUTHORITY["EPSG","6326"]],PRIMEM["Greenwich",0],'
            'UNIT["degree",0.0174532925199433],AUTHORITY["EPSG","4326"]]')


def emit_values(rows: int, cols: int, bands: int) -> np.ndarray:
    """(downtrack, crosstrack, bands) reflectance: 0.01*band + 0.1*row + 0.001*col."""
    r, c, b = np.meshgrid(np.arange(rows), np.arange(cols), np.arange(bands), indexing="ij")
    return (0.01 * b + 0.1 * r + 0.001 * c).astype(np.float32)


def write_emit(path: Path, rows: int = 6, cols: int = 5, bands: int = 8) -> dict:
    """An EMIT L2A RFL granule: root ``reflectance``, ``sensor_band_parameters``, ``location``
    with a GLT that maps a (rows+1) x (cols+1) grid onto the swath (top-left cell empty,
    otherwise cell (i, j) <- swath pixel (i-1 clipped, j-1 clipped) transposed-free)."""
    refl = emit_values(rows, cols, bands)
    refl[0, 0, :] = -9999.0  # a fill pixel
    wl = np.linspace(381.0, 2493.0, bands).astype(np.float32)
    fwhm = np.linspace(8.0, 9.0, bands).astype(np.float32)
    good = np.ones(bands, dtype=np.uint8)
    good[[2, 5]] = 0
    gy, gx = np.meshgrid(np.arange(rows + 1), np.arange(cols + 1), indexing="ij")
    glt_y = np.clip(gy, 1, rows).astype(np.int32)  # 1-based downtrack index
    glt_x = np.clip(gx, 1, cols).astype(np.int32)  # 1-based crosstrack index
    glt_x[0, 0] = glt_y[0, 0] = 0  # no pixel
    gt = np.array([-120.5, 0.000542232520256, 0.0, 36.25, 0.0, -0.000542232520256])
    with h5py.File(path, "w") as f:
        ds = f.create_dataset("reflectance", data=refl)
        ds.attrs["_FillValue"] = np.float32(-9999.0)
        f.attrs["geotransform"] = gt
        f.attrs["spatial_ref"] = WKT_4326
        g = f.create_group("sensor_band_parameters")
        g["wavelengths"], g["fwhm"], g["good_wavelengths"] = wl, fwhm, good
        loc = f.create_group("location")
        loc["glt_x"], loc["glt_y"] = glt_x, glt_y
        loc["lat"] = np.full((rows, cols), 36.2, dtype=np.float64)
        loc["lon"] = np.full((rows, cols), -120.4, dtype=np.float64)
    return {"refl": refl, "wl": wl, "fwhm": fwhm, "good": good, "glt_x": glt_x,
            "glt_y": glt_y, "gt": gt}


def write_prisma(path: Path, rows: int = 4, cols: int = 5, *, level: str = "L2D") -> dict:
    """A PRISMA L2 .he5: VNIR 6 stored bands (one with centre 0) and SWIR 5 (one 0), stored
    (rows, bands, cols) uint16 in decreasing wavelength; VNIR and SWIR overlap at 940-980 nm."""
    vnir_cw = np.array([980.0, 960.0, 700.0, 550.0, 450.0, 0.0], dtype=np.float32)
    swir_cw = np.array([2400.0, 1600.0, 1000.0, 940.0, 0.0], dtype=np.float32)
    vnir_fw = np.array([12.0, 11.0, 10.0, 9.0, 8.0, 0.0], dtype=np.float32)
    swir_fw = np.array([10.0, 10.5, 11.0, 11.5, 0.0], dtype=np.float32)
    vnir_flags = np.array([1, 1, 1, 0, 1, 0], dtype=np.uint8)  # 550 nm flagged not used
    swir_flags = np.array([1, 1, 1, 1, 0], dtype=np.uint8)
    rng = np.random.default_rng(0)
    vnir = rng.integers(0, 65535, (rows, vnir_cw.size, cols), dtype=np.uint16)
    swir = rng.integers(0, 65535, (rows, swir_cw.size, cols), dtype=np.uint16)
    swath = f"HDFEOS/SWATHS/PRS_{level}_HCO/Data Fields"
    with h5py.File(path, "w") as f:
        f.create_dataset(f"{swath}/VNIR_Cube", data=vnir)
        f.create_dataset(f"{swath}/SWIR_Cube", data=swir)
        for name, value in (("List_Cw_Vnir", vnir_cw), ("List_Cw_Swir", swir_cw),
                            ("List_Fwhm_Vnir", vnir_fw), ("List_Fwhm_Swir", swir_fw),
                            ("List_Cw_Vnir_Flags", vnir_flags),
                            ("List_Cw_Swir_Flags", swir_flags)):
            f.attrs[name] = value
        f.attrs["L2ScaleVnirMin"], f.attrs["L2ScaleVnirMax"] = 0.0, 1.0
        f.attrs["L2ScaleSwirMin"], f.attrs["L2ScaleSwirMax"] = 0.0, 0.5
        if level == "L2D":
            f.attrs["Epsg_Code"] = np.int32(32633)
            f.attrs["Product_ULcorner_easting"] = 500015.0  # pixel centres, 30 m apart
            f.attrs["Product_ULcorner_northing"] = 4600015.0
            f.attrs["Product_LRcorner_easting"] = 500015.0 + 30.0 * (cols - 1)
            f.attrs["Product_LRcorner_northing"] = 4600015.0 - 30.0 * (rows - 1)
    return {"vnir": vnir, "swir": swir, "vnir_cw": vnir_cw, "swir_cw": swir_cw,
            "vnir_fw": vnir_fw, "swir_fw": swir_fw}


ENMAP_STEM = "ENMAP01-____L2A-DT0000001_20230101T101010Z_001_V010400_20230102T000000Z"


def write_enmap(folder: Path, rows: int = 5, cols: int = 6, bands: int = 4) -> dict:
    """An EnMAP L2A product folder: int16 band-sequential GeoTIFF (UTM 32N, 30 m, nodata
    -32768) and a METADATA.XML with per-band centre, FWHM, gain and offset."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    dn = rng.integers(0, 10000, (bands, rows, cols), dtype=np.int16)
    dn[:, 0, 0] = -32768
    wl = np.linspace(420.0, 2445.0, bands)
    fwhm = np.linspace(6.5, 9.0, bands)
    gain = np.full(bands, 1e-4)
    offset = np.zeros(bands)
    offset[-1] = 0.01
    geokeys = [1, 1, 0, 3, 1024, 0, 1, 1, 1025, 0, 1, 1, 3072, 0, 1, 32632]
    image = folder / f"{ENMAP_STEM}-SPECTRAL_IMAGE.TIF"
    tifffile.imwrite(image, dn, planarconfig="separate", photometric="minisblack",
                     extratags=[(33550, "d", 3, (30.0, 30.0, 0.0), True),
                                (33922, "d", 6, (0.0, 0.0, 0.0, 600000.0, 5300000.0, 0.0), True),
                                (34735, "H", len(geokeys), tuple(geokeys), True),
                                (42113, "s", 0, "-32768", True)])
    entries = "".join(
        f'<bandID number="{i + 1}"><wavelengthCenterOfBand>{wl[i]}</wavelengthCenterOfBand>'
        f"<FWHMOfBand>{fwhm[i]}</FWHMOfBand><GainOfBand>{gain[i]}</GainOfBand>"
        f"<OffsetOfBand>{offset[i]}</OffsetOfBand></bandID>"
        for i in range(bands))
    xml = folder / f"{ENMAP_STEM}-METADATA.XML"
    xml.write_text(f'<?xml version="1.0" encoding="UTF-8"?><level_X><specific>'
                   f"<bandCharacterisation>{entries}</bandCharacterisation></specific>"
                   f"</level_X>")
    return {"dn": dn, "wl": wl, "fwhm": fwhm, "gain": gain, "offset": offset,
            "image": image, "xml": xml}


def write_aviris_ng(folder: Path, *, rows: int = 4, cols: int = 3, bands: int = 5,
                    interleave: str = "bil", units: bool = True) -> dict:
    """An AVIRIS-NG style reflectance ENVI file: float32 BIL, wavelengths in nm (``units``:
    with a ``wavelength units`` field; without, in micrometres as older headers are),
    ``fwhm``, ``bbl``, ``data ignore value = -9999`` and a UTM ``map info``."""
    folder.mkdir(parents=True, exist_ok=True)
    b, r, c = np.meshgrid(np.arange(bands), np.arange(rows), np.arange(cols), indexing="ij")
    cube = (b + 10.0 * r + 100.0 * c).astype(np.float32)  # bands first
    cube[:, 0, 0] = -9999.0
    stored = {"bsq": cube, "bil": cube.transpose(1, 0, 2),
              "bip": cube.transpose(1, 2, 0)}[interleave]
    stem = "ang20200712t201415_rfl_v2y1_img"
    (folder / stem).write_bytes(np.ascontiguousarray(stored).tobytes())
    wl_nm = np.linspace(377.0, 2500.0, bands)
    wl = wl_nm if units else wl_nm / 1000.0
    fwhm = np.full(bands, 5.5) if units else np.full(bands, 0.0055)
    bbl = [1] * bands
    bbl[1] = 0
    header = [
        "ENVI", "description = {AVIRIS-NG reflectance}", f"samples = {cols}",
        f"lines = {rows}", f"bands = {bands}", "header offset = 0", "file type = ENVI Standard",
        "data type = 4", f"interleave = {interleave}", "byte order = 0",
        "map info = { UTM , 1.000 , 1.000 , 724522.127 , 4074620.759 , 5.0000000000e+00 , "
        "5.0000000000e+00 , 11 , North , WGS-84 , units=Meters , rotation=0.00000000 }",
        f"wavelength = {{ {', '.join(f'{v:.6f}' for v in wl)} }}",
        f"fwhm = {{ {', '.join(f'{v:.6f}' for v in fwhm)} }}",
        f"bbl = {{ {', '.join(map(str, bbl))} }}",
        "data ignore value = -9999",
    ]
    if units:
        header.insert(3, "wavelength units = Nanometers")
    hdr = folder / f"{stem}.hdr"
    hdr.write_text("\n".join(header) + "\n")
    return {"cube": cube, "wl": wl, "fwhm": fwhm, "bbl": bbl, "hdr": hdr,
            "data": folder / stem}
