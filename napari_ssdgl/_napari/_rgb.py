"""The "RGB composite" widget: a colour view of a bands-first cube layer.

Natural colour by default (bands nearest 640/545/460 nm; without wavelengths the sample-data
registry's bands from the layer metadata, else evenly spaced bands), or false colour from
chosen wavelengths (optionally averaged over a window, i.e. a wavelength range) or band indices.
Output is one small uint8 RGB layer, or three additive single-band layers that are views of the
cube. Either way the layers are reused by name, so pressing the button again updates them.
"""

# no `from __future__ import annotations`: magicgui reads the real annotation types

from collections.abc import Sequence

import numpy as np
from magicgui import magic_factory
from napari.layers import Image
from napari.utils.notifications import show_info, show_warning
from napari.viewer import Viewer

from napari_ssdgl._napari._layers import ROLE
from napari_ssdgl.analysis import spectra

MODES = ("auto", "wavelengths", "bands")
OUTPUTS = ("one RGB layer", "three additive layers")
COLOURS = ("red", "green", "blue")


def rgb_name(cube_name: str) -> str:
    return f"{cube_name} RGB"


def choose_channels(
    n_bands: int,
    metadata: dict,
    mode: str = "auto",
    values: Sequence[float] = spectra.RGB_TARGETS_NM,
    width_nm: float = 0.0,
) -> tuple[list[np.ndarray], str]:
    """Band indices of each channel and a sentence that says where they came from.

    Raises ValueError with a readable message on an impossible request.
    """
    md = metadata or {}
    wl_nm = spectra.wavelengths_nm(md.get("wavelengths"), md.get("wavelength_units"), n_bands)
    if mode == "bands":
        bands = [int(round(v)) for v in values]
        if not all(0 <= b < n_bands for b in bands):
            raise ValueError(f"band indices must be 0..{n_bands - 1}, got {bands}")
        return [np.array([b]) for b in bands], f"bands {bands}"
    if mode == "wavelengths":
        if wl_nm is None:
            raise ValueError("this cube has no (usable) wavelengths: choose band indices")
        chans = [spectra.bands_in_window(wl_nm, v, width_nm) for v in values]
        return chans, f"wavelengths {[float(v) for v in values]} nm ± {width_nm / 2:g} nm"
    if mode != "auto":
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    bands, how = spectra.default_rgb_bands(
        n_bands, md.get("wavelengths"), md.get("wavelength_units"), md.get("rgb_bands")
    )
    if how == "wavelengths" and width_nm > 0:
        chans = [spectra.bands_in_window(wl_nm, t, width_nm) for t in spectra.RGB_TARGETS_NM]
    else:
        chans = [np.array([b]) for b in bands]
    why = {"wavelengths": "nearest 640/545/460 nm", "metadata": "the scene's default bands",
           "spaced": "evenly spaced, no wavelengths"}[how]  # fmt: skip
    return chans, f"bands {list(bands)} ({why})"


def composite_layer_data(
    data,
    metadata: dict,
    name: str,
    *,
    mode: str = "auto",
    values: Sequence[float] = spectra.RGB_TARGETS_NM,
    width_nm: float = 0.0,
    separate: bool = False,
    percentiles: tuple[float, float] = (2.0, 98.0),
    **layer_kwargs,
) -> list[tuple]:
    """LayerData tuples for a cube's colour view (usable by a reader or the widget)."""
    chans, why = choose_channels(int(data.shape[0]), metadata, mode, values, width_nm)
    md = {ROLE: "rgb", "rgb_source": name, "rgb_bands": [c.tolist() for c in chans],
          "rgb_description": why}  # fmt: skip
    if not separate:
        rgb = spectra.rgb_composite(data, chans, percentiles)
        kw = {"name": rgb_name(name), "rgb": True, "contrast_limits": (0, 255), "metadata": md}
        return [(rgb, {**kw, **layer_kwargs}, "image")]
    out = []
    for colour, ch in zip(COLOURS, chans, strict=True):
        img = spectra.band_image(data, ch)
        kw = {"name": f"{rgb_name(name)} {colour}", "colormap": colour, "blending": "additive",
              "contrast_limits": spectra.percentile_limits(img, *percentiles), "metadata": md}
        out.append((img, {**kw, **layer_kwargs}, "image"))
    return out


def show_layer_data(viewer, layer_data: list[tuple], above=None) -> list[Image]:
    """Add the image tuples, or update our earlier layers of the same name in place.

    New layers go just above ``above`` (the cube), so label layers over it stay visible.
    """
    layers = []
    for data, kwargs, _ in layer_data:
        kw = dict(kwargs)
        name = kw.pop("name")
        old = viewer.layers[name] if name in viewer.layers else None
        if (isinstance(old, Image) and old.metadata.get(ROLE) == "rgb"
                and old.rgb == kw.get("rgb", False)):  # fmt: skip
            old.metadata.update(kw.pop("metadata"))
            old.data = data
            for key, value in kw.items():
                if key != "rgb":
                    setattr(old, key, value)
            layers.append(old)
        else:
            layers.append(viewer.add_image(data, name=name, **kw))
            if above is not None and above in viewer.layers:
                viewer.layers.move(len(viewer.layers) - 1, viewer.layers.index(above) + 1)
    return layers


def used_text(layer) -> str:
    """What 'auto' uses for ``layer``: its bands, and their centres only where known."""
    md = layer.metadata
    n = int(layer.data.shape[0])
    chans, why = choose_channels(n, md, "auto")
    wl = spectra.wavelengths_nm(md.get("wavelengths"), md.get("wavelength_units"), n)
    if wl is None:
        return f"Uses {why}."
    centres = "/".join(f"{float(np.mean(wl[c])):.0f}" for c in chans)
    return f"Uses {why}: {centres} nm."


def _init_widget(widget) -> None:
    """The three values always say what they are: wavelengths (nm) only for a cube that has
    them, else band indices; in 'auto' they show the bands the composite uses, and a line below
    the button says which bands (and, where known, which wavelengths) it used."""
    from qtpy.QtWidgets import QLabel

    used = QLabel("")
    used.setWordWrap(True)
    widget.native.layout().addWidget(used)
    widget.used_label = used

    def cube_layer():
        layer = widget.cube.value
        ok = layer is not None and layer.ndim == 3 and not layer.rgb and not layer.multiscale
        return layer if ok else None

    def set_units(unit: str) -> None:
        for colour in COLOURS:
            getattr(widget, colour).label = f"{colour} ({unit})"

    def on_mode(mode: str) -> None:
        layer = cube_layer()
        md = {} if layer is None else layer.metadata
        if mode == "wavelengths":
            values, unit = spectra.RGB_TARGETS_NM, "nm"
        elif layer is not None:
            values, _ = spectra.default_rgb_bands(layer.data.shape[0], md.get("wavelengths"),
                                                  md.get("wavelength_units"), md.get("rgb_bands"))
            unit = "band"
        else:
            used.setText("")
            return
        set_units(unit)
        widget.red.value, widget.green.value, widget.blue.value = values
        used.setText("" if layer is None or mode != "auto" else used_text(layer))

    widget.mode.changed.connect(on_mode)
    widget.cube.changed.connect(lambda *_: on_mode(widget.mode.value))
    widget.called.connect(lambda *_: widget.mode.value == "auto" and on_mode("auto"))
    on_mode(widget.mode.value)


@magic_factory(
    widget_init=_init_widget,
    call_button="Show RGB",
    cube={"tooltip": "A bands-first hyperspectral cube layer"},
    mode={"choices": MODES, "tooltip": "auto: natural colour (640/545/460 nm) or the scene's "
          "default bands; wavelengths / bands: false colour from the three values below"},
    red={"max": 1e5, "step": 1.0, "tooltip": "red channel: wavelength (nm) or band index"},
    green={"max": 1e5, "step": 1.0, "tooltip": "green channel: wavelength (nm) or band index"},
    blue={"max": 1e5, "step": 1.0, "tooltip": "blue channel: wavelength (nm) or band index"},
    width_nm={"label": "window (nm)", "max": 1e4, "tooltip": "average the bands within this "
              "window around each wavelength (a range); 0 = nearest band"},
    output={"choices": OUTPUTS},
    low={"label": "low %", "max": 50.0}, high={"label": "high %", "min": 50.0, "max": 100.0},
)  # fmt: skip
def rgb_composite(
    viewer: Viewer,
    cube: Image,
    mode: str = "auto",
    red: float = 640.0,
    green: float = 545.0,
    blue: float = 460.0,
    width_nm: float = 0.0,
    output: str = OUTPUTS[0],
    low: float = 2.0,
    high: float = 98.0,
) -> None:
    """Add (or refresh) the colour view of ``cube``; problems become notifications."""
    if cube is None or cube.rgb or cube.ndim != 3 or cube.multiscale:
        show_warning("RGB composite: pick a bands-first cube layer (3-D, bands, rows, cols)")
        return
    try:
        layer_data = composite_layer_data(
            cube.data, cube.metadata, cube.name, mode=mode, values=(red, green, blue),
            width_nm=width_nm, separate=output == OUTPUTS[1], percentiles=(low, high),
            scale=tuple(cube.scale[1:]), translate=tuple(cube.translate[1:]),
        )  # fmt: skip
    except ValueError as exc:
        show_warning(f"RGB composite: {exc}")
        return
    show_layer_data(viewer, layer_data, above=cube)
    show_info(f"{rgb_name(cube.name)}: {layer_data[0][1]['metadata']['rgb_description']}")
