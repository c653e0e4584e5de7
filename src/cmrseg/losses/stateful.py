"""Losses that train a network of their own (adversarial discriminators) and must checkpoint it with the run.

The engine saves ``Method.loss_states()`` in every checkpoint and restores it on ``--resume``, so a resumed GAN
continues against the same discriminator (weights and Adam moments) instead of a freshly initialised one.
A loss opts in by defining ``training_state()`` / ``load_training_state(state)``; :class:`OwnsDiscriminator`
does that for the common case of one discriminator with one optimizer.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn


class OwnsDiscriminator:
    """Mixin: ``self.discriminator`` and its ``self.optimizer`` are part of the run's training state."""

    discriminator: nn.Module
    optimizer: torch.optim.Optimizer

    def to(self, device: torch.device) -> "OwnsDiscriminator":
        """Move the discriminator (in place: its optimizer keeps the same parameters) to ``device``."""
        self.discriminator.to(device)
        for state in self.optimizer.state.values():  # Adam moments of a resumed run
            for k, v in state.items():
                if isinstance(v, torch.Tensor) and k != "step":
                    state[k] = v.to(device)
        return self

    def training_state(self) -> dict[str, Any]:
        return {"discriminator": self.discriminator.state_dict(), "optimizer": self.optimizer.state_dict()}

    def load_training_state(self, state: dict[str, Any]) -> None:
        self.discriminator.load_state_dict(state["discriminator"])
        self.optimizer.load_state_dict(state["optimizer"])
