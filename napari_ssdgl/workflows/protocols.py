"""The paper's training protocols (SSDGL.md), defined once for the CLI, the API and benchmarks.

A protocol fixes how the ground truth is split into training and test pixels and the
hyper-parameters the authors used for that scene. Names are per scene (``5pct`` on Indian Pines
and ``1pct`` on Pavia University are different set-ups), so a protocol is looked up by
``(scene, name)``; an unqualified name is accepted when only one paper protocol has it, and
``scene/name`` always works (needed for a cube + ground-truth pair from files).
``synthetic/5pct`` is not from the paper: it is the demo's quick run on the synthetic scene.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from napari_ssdgl.training import TrainConfig, split_by_fraction, split_per_class

__all__ = ["PROTOCOLS", "Protocol", "ProtocolError", "get_protocol", "protocol_names"]


class ProtocolError(ValueError):
    """An unknown or ambiguous protocol name."""


@dataclass(frozen=True)
class Protocol:
    """One scene's training protocol: the split and the hyper-parameters of the paper."""

    scene: str
    name: str
    split: str  # "fraction" (per class max(min_per_class, ceil(f * count))) or "per_class" (n)
    amount: float  # the fraction, or n per class
    preset: str | None
    lr: float
    power: float
    paper_draw: int | None  # the paper's H-B draw per class and iteration; None = all pixels
    iterations: int = 600
    min_per_class: int = 5
    description: str = ""
    model_kwargs: dict = field(default_factory=dict)
    paper: bool = True  # False: a project protocol (the demo), never matched by a bare name

    @property
    def key(self) -> str:
        return f"{self.scene}/{self.name}"

    def split_labels(self, gt: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """(train, test) label rasters of this protocol for ``seed``."""
        if self.split == "fraction":
            return split_by_fraction(gt, self.amount, self.min_per_class, seed=seed)
        return split_per_class(gt, int(self.amount), seed=seed)

    def config_kwargs(self, paper_draw: bool = False) -> dict:
        """Keyword arguments of :class:`TrainConfig` that this protocol fixes. The per-class draw
        is the engine's default (every pixel of these splits) unless ``paper_draw``."""
        kwargs = {"preset": self.preset, "lr": self.lr, "power": self.power,
                  "iterations": self.iterations, "model_kwargs": dict(self.model_kwargs)}
        if paper_draw:
            kwargs["per_class"] = self.paper_draw
        return kwargs

    def train_config(self, paper_draw: bool = False, **overrides) -> TrainConfig:
        """The protocol's :class:`TrainConfig`; protocol runs keep the LAST model by default
        and train on the whole scene as the paper did (``window=None``), so the reproduced
        figures of the scenes wider than the engine's default window (Pavia, Salinas,
        Houston) stay what the paper's method gives."""
        kwargs = {"keep": "last", "eval_every": 0, "window": None,
                  **self.config_kwargs(paper_draw), **overrides}
        return TrainConfig(**kwargs)

    def to_dict(self) -> dict:
        return {"key": self.key, **asdict(self)}


def _p(scene, name, split, amount, preset, lr, power, paper_draw, description, **kw) -> Protocol:
    return Protocol(scene, name, split, amount, preset, lr, power, paper_draw,
                    description=description, **kw)


_ALL = [
    _p("indian_pines", "5pct", "fraction", 0.05, "indian_pines", 0.003, 0.8, 10,
       "5 % per class, at least 5 (529 px); the paper drew 10 per class and iteration"),
    _p("indian_pines", "10-per-class", "per_class", 10, "few_samples", 0.001, 0.9, None,
       "10 px per class (few samples)"),
    _p("pavia_university", "1pct", "fraction", 0.01, "pavia_university", 0.001, 0.9, 20,
       "1 % per class, at least 5 (432 px); the paper drew 20 per class and iteration"),
    _p("salinas", "1pct", "fraction", 0.01, "salinas", 0.005, 0.8, 10,
       "1 % per class, at least 5 (549 px); the paper drew 10 per class and iteration"),
    _p("houston2013", "10-per-class", "per_class", 10, "houston2013", 0.005, 0.6, None,
       "10 px per class"),
    _p("synthetic", "5pct", "fraction", 0.05, None, 0.01, 0.8, 20,
       "demo, not a paper protocol: 5 % per class, a tiny SSDGL",
       iterations=150, paper=False,
       model_kwargs={"widths": [16, 16, 16, 16], "decoder_width": 16, "groups": 4}),
]

PROTOCOLS: dict[str, dict[str, Protocol]] = {}
for _proto in _ALL:
    PROTOCOLS.setdefault(_proto.scene, {})[_proto.name] = _proto


def protocol_names() -> list[str]:
    """Every protocol as ``scene/name``."""
    return [p.key for by_name in PROTOCOLS.values() for p in by_name.values()]


def get_protocol(name: str, scene: str | None = None) -> Protocol:
    """Look up ``name`` (``5pct`` or ``indian_pines/5pct``) for ``scene`` (a sample-scene key,
    or None for a cube from files); raises :class:`ProtocolError` listing the choices."""
    if "/" in name:
        qualified_scene, name = name.split("/", 1)
        if scene is not None and qualified_scene != scene:
            raise ProtocolError(f"protocol {qualified_scene}/{name} is for {qualified_scene}, "
                                f"not {scene}")
        scene = qualified_scene
    if scene is not None:
        table = PROTOCOLS.get(scene)
        if table is None:
            raise ProtocolError(f"no paper protocol for scene {scene!r}; protocols: "
                                f"{', '.join(protocol_names())}")
        if name not in table:
            raise ProtocolError(f"unknown protocol {name!r} for {scene}; choose one of "
                                f"{', '.join(table)}")
        return table[name]
    matches = [t[name] for t in PROTOCOLS.values() if name in t and t[name].paper]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise ProtocolError(f"unknown protocol {name!r}; choose one of "
                            f"{', '.join(protocol_names())}")
    raise ProtocolError(f"protocol {name!r} is ambiguous; say which scene's: "
                        f"{', '.join(p.key for p in matches)}")
