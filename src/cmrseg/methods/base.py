"""The method contract: a method is a declaration the one engine trains; it never owns a loop.

A method declares
* its **terms** (``default_terms``, overridable by ``method.terms``): which loss, on which data stream, with which
  weight and schedule; the streams it consumes are the terms' streams;
* its typed **params** (``Params``, a pydantic model that refuses unknown keys and lists the valid ones);
* ``check(cfg)``: what it needs of the rest of the config (a model with a position head, a declared synthetic
  stream ...), checked before any data is read;
* optionally ``build_stream(name, ctx)`` for a stream it builds itself (e.g. image pairs), ``forward(batches,
  ctx)`` when its model is not called as ``model(image)`` once per stream, and ``validate`` for a selection metric
  other than segmentation Dice.

The engine (:mod:`cmrseg.engine.step`) runs the forward, the single term loop, the BatchNorm stream handling
(``bn_streams``), the term schedules and every auxiliary network the terms declare (discriminators it trains,
frozen autoencoders and teachers). ``example`` is the tiny config every registered method ships for the shared
method test (``tests/methods/test_contract.py``).
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Iterator

import torch
import torch.nn as nn
from pydantic import BaseModel, ConfigDict, ValidationError

from cmrseg.config.schema import MethodConfig, TermConfig
from cmrseg.errors import ConfigError
from cmrseg.losses.registry import LossTerm, create_loss
from cmrseg.models.auxiliary import AuxiliaryNetwork
from cmrseg.models.registry import look_up

if TYPE_CHECKING:
    from cmrseg.config.schema import Config

_METHODS: dict[str, type["Method"]] = {}


def register_method(name: str) -> Callable[[type["Method"]], type["Method"]]:
    def deco(cls: type["Method"]) -> type["Method"]:
        _METHODS[name] = cls
        cls.name = name
        return cls
    return deco


class MethodParams(BaseModel):
    """Typed ``method.params``: unknown keys are refused (a typo must not silently train the default)."""

    model_config = ConfigDict(extra="forbid")


def parse_params(schema: type[BaseModel], raw: dict[str, Any], where: str) -> Any:
    """``schema(**raw)``, or a :class:`ConfigError` naming each bad key and listing the valid ones."""
    try:
        return schema.model_validate(raw)
    except ValidationError as exc:
        valid = {k: (f.description or "") for k, f in schema.model_fields.items()}
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or '(params)'}: {e['msg']}" for e in exc.errors())
        listing = ", ".join(valid) if valid else "none (this method takes no params)"
        raise ConfigError(f"{where}: {problems}. Valid keys: {listing}") from None


def sigmoid_ramp(iteration: int, length: int) -> float:
    """Laine & Aila's sigmoid ramp-up, exp(-5 (1 - t)^2), from 0 to 1 over ``length`` iterations."""
    if length <= 0:
        return 1.0
    t = min(1.0, iteration / length)
    return math.exp(-5.0 * (1.0 - t) ** 2)


def term_scale(term: TermConfig, iteration: int) -> float:
    """Schedule factor of a term's weight: 0 before ``term.start`` and from ``term.stop`` on, in between the
    sigmoid ramp over ``term.ramp_up``."""
    if iteration < term.start or (term.stop is not None and iteration >= term.stop):
        return 0.0
    return sigmoid_ramp(iteration - term.start, term.ramp_up)


def call_loss(loss: LossTerm, outputs: dict[str, torch.Tensor], batch: dict[str, torch.Tensor],
              model: nn.Module) -> torch.Tensor:
    """``loss(outputs, batch)``; a loss with ``needs_model = True`` (it runs the model again, e.g. on a
    transformed batch) is called as ``loss(outputs, batch, model)``."""
    if getattr(loss, "needs_model", False):
        return loss(outputs, batch, model)  # type: ignore[call-arg]
    return loss(outputs, batch)


def batchnorm_layers(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    """The BatchNorm layers of ``model`` (any dimension), whose running statistics a forward in training mode moves."""
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


@contextmanager
def frozen_bn_statistics(model: nn.Module, frozen: bool = True) -> Iterator[None]:
    """Within the block, training-mode forwards of ``model`` leave its BatchNorm running statistics unchanged
    (momentum 0); normalisation still uses each batch's own statistics."""
    saved = [(m, m.momentum) for m in batchnorm_layers(model)] if frozen else []
    for m, _ in saved:
        m.momentum = 0.0
    try:
        yield
    finally:
        for m, momentum in saved:
            m.momentum = momentum


@dataclass
class StreamContext:
    """What ``Method.build_stream`` gets: the split, the preprocessing cache, the config, and the stream's own
    seed (different per stream and per data-parallel rank)."""

    split: Any
    cache: Any
    cfg: "Config"
    seed: int
    rank: int = 0


@dataclass
class StepContext:
    """What ``Method.forward`` gets: the trained module, the iteration, and the engine's BN stream handling.

    ``run(stream, *inputs)`` calls the model for a batch of ``stream``; its forwards move the BatchNorm running
    statistics only if ``stream`` is in ``method.bn_streams`` (or that is unset). ``teacher`` is the engine's EMA
    of the model (``optim.ema``), or None. ``generator`` is the engine's CPU generator for random views (its state
    is checkpointed, so a resumed run draws the same).
    """

    model: nn.Module
    iteration: int
    bn_streams: set[str] | None = None
    teacher: nn.Module | None = None
    generator: torch.Generator | None = None

    def bn_frozen(self, stream: str) -> bool:
        return self.bn_streams is not None and stream not in self.bn_streams

    def run(self, stream: str, *inputs: Any, **kwargs: Any) -> Any:
        with frozen_bn_statistics(self.model, self.bn_frozen(stream)):
            return self.model(*inputs, **kwargs)


Batches = dict[str, dict[str, torch.Tensor]]


class Method:
    """Base method: default loss terms over streams, typed params; the engine does the rest."""

    name = "base"
    Params: ClassVar[type[BaseModel]] = MethodParams
    default_terms: ClassVar[tuple[dict[str, Any], ...]] = ()
    selection_metric = "val/dice_mean"  # key of the validation dict that picks best.pt (higher is better)
    example: ClassVar[dict[str, Any] | None] = None  # tiny config overrides for the shared method test

    def __init__(self, cfg: MethodConfig) -> None:
        self.params, self.terms = self.declaration(cfg)
        self.losses: list[LossTerm] = [create_loss(t.loss, t.params) for t in self.terms]
        self.bn_streams = None if cfg.bn_streams is None else set(cfg.bn_streams)
        known = set() if self.bn_streams is None else self.streams | {t.stream for t in self.terms}
        if self.bn_streams is not None and not self.bn_streams <= known:
            raise ConfigError(f"method.bn_streams {sorted(self.bn_streams - known)} are not streams of "
                              f"method '{cfg.name}' (its streams: {sorted(known)})")

    @classmethod
    def declaration(cls, cfg: MethodConfig) -> tuple[Any, list[TermConfig]]:
        """The typed params and the terms of ``cfg``, without building any loss (nothing is loaded)."""
        params = parse_params(cls.Params, cfg.params, f"method '{cls.name}' params")
        raw = cfg.terms if cfg.terms is not None else [TermConfig(**t) for t in cls.default_terms]
        return params, [t.model_copy(deep=True) for t in cls.configure_terms(params, list(raw))]

    @classmethod
    def configure_terms(cls, params: Any, terms: list[TermConfig]) -> list[TermConfig]:
        """Hook: adjust the terms from the params before their losses are built (e.g. fill in a checkpoint)."""
        return terms

    @property
    def streams(self) -> set[str]:
        """Names of the data streams this method consumes."""
        return {t.stream for t in self.terms}

    def networks(self) -> dict[str, AuxiliaryNetwork]:
        """Every auxiliary network the terms declare, keyed ``"<term index>:<loss>.<name>"`` (for checkpoints)."""
        return {f"{i}:{t.loss}.{name}": net for i, (t, loss) in enumerate(zip(self.terms, self.losses))
                for name, net in getattr(loss, "networks", {}).items()}

    def check(self, cfg: "Config") -> None:
        """Hook: refuse a config this method cannot train (before any data is read)."""

    def build_stream(self, name: str, ctx: StreamContext) -> Any | None:
        """Hook: a stream this method builds itself (e.g. image pairs); ``None`` = the engine's pools."""
        return None

    def forward(self, batches: Batches, ctx: StepContext) -> tuple[dict[str, Any], Batches]:
        """The model's outputs per stream, and the batches the terms see: by default ``model(image)`` per stream."""
        return {name: ctx.run(name, batch["image"]) for name, batch in batches.items()}, batches

    def validate(self, model: nn.Module, val: list, batch: int) -> dict[str, float] | None:
        """Hook: validation metrics for model selection; ``None`` = the engine's 3D segmentation Dice."""
        return None


def create_method(cfg: MethodConfig) -> Method:
    _register_builtins()
    return look_up(cfg.name, _METHODS, "method")(cfg)


def method_class(name: str) -> type[Method]:
    _register_builtins()
    return look_up(name, _METHODS, "method")


def _register_builtins() -> None:
    from cmrseg.methods import (mumford_shah, registration, self_training, semi, shape_prior,  # noqa: F401
                                supervised, synthetic, translation)


def available_methods() -> list[str]:
    _register_builtins()

    return sorted(_METHODS)
