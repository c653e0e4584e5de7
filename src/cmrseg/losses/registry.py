"""Loss registry. A loss term takes the model output dict and the batch dict and returns a scalar.

Methods are lists of ``(stream, loss, weight)`` terms; a new loss only needs ``@register_loss``.
A loss that must run the model again (e.g. on a transformed batch) sets ``needs_model = True`` and is called
as ``loss(outputs, batch, model)`` (see :func:`cmrseg.methods.base.call_loss`).
"""

from __future__ import annotations

from typing import Any, Callable, Protocol

import torch

from cmrseg.models.registry import call_with_params, look_up


class LossTerm(Protocol):
    def __call__(self, outputs: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]) -> torch.Tensor: ...


_LOSSES: dict[str, Callable[..., LossTerm]] = {}


def register_loss(name: str) -> Callable[[Callable[..., LossTerm]], Callable[..., LossTerm]]:
    def deco(factory: Callable[..., LossTerm]) -> Callable[..., LossTerm]:
        _LOSSES[name] = factory
        return factory
    return deco


def create_loss(name: str, params: dict[str, Any] | None = None) -> LossTerm:
    from cmrseg.losses import (adversarial, augmentation_invariance, level_init, mumford_shah,  # noqa: F401
                               registration, shape, supervised, translation)  # (built-ins)

    return call_with_params(look_up(name, _LOSSES, "loss"), params or {}, f"loss '{name}' params")


def available_losses() -> list[str]:
    from cmrseg.losses import (adversarial, augmentation_invariance, level_init, mumford_shah,  # noqa: F401
                               registration, shape, supervised, translation)

    return sorted(_LOSSES)
