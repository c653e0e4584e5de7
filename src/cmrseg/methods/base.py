"""A method = a set of loss terms over data streams (and optional heads); the engine does the rest.

Methods never own a training loop. ``Method.training_step`` runs the model once per stream batch and sums
the weighted terms; subclasses override only what differs (e.g. building pseudo-labels between rounds).
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from typing import Any, Callable, Iterator

import torch
import torch.nn as nn

from cmrseg.config.schema import MethodConfig, TermConfig
from cmrseg.device import module_device
from cmrseg.errors import ConfigError
from cmrseg.losses.registry import LossTerm, create_loss
from cmrseg.models.registry import look_up

_METHODS: dict[str, type["Method"]] = {}


def register_method(name: str) -> Callable[[type["Method"]], type["Method"]]:
    def deco(cls: type["Method"]) -> type["Method"]:
        _METHODS[name] = cls
        cls.name = name
        return cls
    return deco


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


class Method:
    """Base method: default loss terms, overridable from the config."""

    name = "base"
    default_terms: tuple[dict[str, Any], ...] = ()
    selection_metric = "val/dice_mean"  # key of the validation dict that picks best.pt (higher is better)
    honours_bn_streams = True  # False where training_step is replaced without the bn_streams handling

    def __init__(self, cfg: MethodConfig) -> None:
        raw = cfg.terms if cfg.terms is not None else [TermConfig(**t) for t in self.default_terms]
        self.terms = list(raw)
        self.losses: list[LossTerm] = [create_loss(t.loss, t.params) for t in self.terms]
        self.params = cfg.params
        self.bn_streams = None if cfg.bn_streams is None else set(cfg.bn_streams)
        if self.bn_streams is not None and not self.honours_bn_streams:
            raise ConfigError(f"method '{cfg.name}' does not support method.bn_streams: remove it")
        if self.bn_streams is not None and not self.bn_streams <= self.streams:
            raise ConfigError(f"method.bn_streams {sorted(self.bn_streams - self.streams)} are not streams of "
                              f"method '{cfg.name}' (its streams: {sorted(self.streams)})")

    @property
    def streams(self) -> set[str]:
        """Names of the data streams this method consumes."""
        return {t.stream for t in self.terms}

    def loss_states(self) -> dict[str, Any]:
        """Training state of the losses that train networks of their own (discriminators), keyed by term."""
        return {f"{i}:{t.loss}": loss.training_state() for i, (t, loss) in enumerate(zip(self.terms, self.losses))
                if hasattr(loss, "training_state")}

    def load_loss_states(self, states: dict[str, Any]) -> list[str]:
        """Restore :meth:`loss_states`; returns the stateful terms that ``states`` lacks (they start afresh)."""
        missing = []
        for i, (t, loss) in enumerate(zip(self.terms, self.losses)):
            if hasattr(loss, "load_training_state"):
                key = f"{i}:{t.loss}"
                if key in states:
                    loss.load_training_state(states[key])
                else:
                    missing.append(key)
        return missing

    def to(self, device: torch.device) -> "Method":
        """Move the networks the loss terms hold (frozen autoencoders, discriminators) to ``device``."""
        for loss in self.losses:
            if hasattr(loss, "to"):
                loss.to(device)
        return self

    def build_stream(self, name: str, split: Any, cache: Any, cfg: Any) -> Any | None:
        """Hook: a stream this method builds itself (e.g. image pairs); ``None`` = the engine's pools."""
        return None

    def validate(self, model: nn.Module, val: list, batch: int) -> dict[str, float] | None:
        """Hook: validation metrics for model selection; ``None`` = the engine's 3D segmentation Dice."""
        return None

    def _bn_frozen(self, stream: str) -> bool:
        return self.bn_streams is not None and stream not in self.bn_streams

    def training_step(self, model: nn.Module, batches: dict[str, dict[str, torch.Tensor]],
                      iteration: int) -> tuple[torch.Tensor, dict[str, float]]:
        """Weighted sum of the loss terms; one forward pass per stream (BN statistics: see ``bn_streams``)."""
        outputs = {}
        for name, batch in batches.items():
            with frozen_bn_statistics(model, self._bn_frozen(name)):
                outputs[name] = model(batch["image"])
        total = torch.zeros((), device=module_device(model))
        logs: dict[str, float] = {}
        for term, loss in zip(self.terms, self.losses):
            if term.stop is not None and iteration >= term.stop:
                continue  # switched off for good (e.g. a warm start): not even computed
            with frozen_bn_statistics(model, self._bn_frozen(term.stream)):  # losses that run the model again
                value = call_loss(loss, outputs[term.stream], batches[term.stream], model)
            w = term.weight * term_scale(term, iteration)
            total = total + w * value
            logs[f"loss/{term.loss}@{term.stream}"] = float(value.detach())
        logs["loss/total"] = float(total.detach())
        return total, logs


def create_method(cfg: MethodConfig) -> Method:
    _register_builtins()
    return look_up(cfg.name, _METHODS, "method")(cfg)


def _register_builtins() -> None:
    from cmrseg.methods import (mumford_shah, registration, self_training, shape_prior, supervised,  # noqa: F401
                                synthetic, translation)


def available_methods() -> list[str]:
    _register_builtins()

    return sorted(_METHODS)
