"""Named configurations from the paper and the model registry behind ``build_model``.

Presets are SSDGL settings; a model takes only the keys its constructor knows (FreeNet uses the
widths, decoder width and groups and ignores the GCL keys). Explicit overrides always win.
"""

from __future__ import annotations

import copy
import inspect

from torch import nn

from napari_ssdgl.models.ensemble import Ensemble
from napari_ssdgl.models.freenet import FreeNet
from napari_ssdgl.models.ssdgl import SSDGL

MODELS: dict[str, type[nn.Module]] = {"ssdgl": SSDGL, "freenet": FreeNet}

_PAVIA = {"widths": [96, 128, 192, 256], "decoder_width": 128, "groups": 8, "gcl_kernel": 3}
_INDIAN = {"widths": [128, 192, 256, 320], "decoder_width": 192, "groups": 8, "gcl_kernel": 3}

PRESETS: dict[str, dict] = {
    "default": dict(_PAVIA),
    "pavia_university": dict(_PAVIA),
    "salinas": dict(_PAVIA),
    "houston2013": dict(_PAVIA),
    "houston2013_variant": {**_PAVIA, "variant": "houston"},
    "indian_pines": dict(_INDIAN),
    "few_samples": {**_INDIAN, "groups": 4, "gcl_kernel": 5},
}


def _params(cls: type[nn.Module]) -> list[str]:
    return [p for p in inspect.signature(cls).parameters if p not in ("self",)]


def build_model(name: str, in_channels: int, num_classes: int, preset: str | None = None,
                members: int = 1, **overrides) -> nn.Module:
    """Build ``name`` ("ssdgl" / "freenet") from an optional preset plus keyword overrides;
    ``members`` > 1: an :class:`~.ensemble.Ensemble` of that many, each with its own random
    start (built one after the other from the current torch seed)."""
    if int(members) != members or members < 1:
        raise ValueError(f"members must be a whole number >= 1, got {members}")
    if members > 1:
        return Ensemble([build_model(name, in_channels, num_classes, preset, **overrides)
                         for _ in range(int(members))])
    cls = MODELS.get(str(name).lower())
    if cls is None:
        raise ValueError(f"unknown model {name!r}; expected one of {sorted(MODELS)}")
    known = _params(cls)
    config: dict = {}
    if preset is not None:
        if preset not in PRESETS:
            raise ValueError(f"unknown preset {preset!r}; expected one of {sorted(PRESETS)}")
        config = {k: copy.deepcopy(v) for k, v in PRESETS[preset].items() if k in known}
    unknown = sorted(set(overrides) - set(known))
    if unknown:
        raise ValueError(f"{cls.__name__} has no option(s) {unknown}; expected among {known}")
    config.update(overrides)
    return cls(in_channels=in_channels, num_classes=num_classes, **config)


def model_config(model: nn.Module) -> dict:
    """JSON-serialisable kwargs with ``build_model(model.name, **model_config(model))`` rebuilding
    the same architecture."""
    return copy.deepcopy(model.config)
