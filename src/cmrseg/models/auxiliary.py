"""Networks a loss term uses beside the segmentation model: discriminators it trains, autoencoders it keeps frozen.

A loss declares them in its ``networks`` dict; the engine owns them from there: it moves them to the device,
wraps the trained ones for data-parallel training (so every process holds the same discriminator), steps their
optimisers with the losses the term returns from ``auxiliary_losses`` (before the model's own step, so the
term is computed against the updated network, as in Luc et al. 2016 and MUNIT), and saves and restores their
weights and optimiser state with the run's checkpoints.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
import torch.nn as nn

OptimizerFactory = Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]


class AuxiliaryNetwork:
    """A network beside the model: trained with its own optimiser, or frozen (``optimizer=None``).

    Attributes:
        module: the network; use it for the term's own value (its weights get no gradient from that).
        trainable: the module to run for its own update; the engine sets it to the data-parallel wrapper.
        optimizer: its optimiser, or None when frozen.
    """

    def __init__(self, module: nn.Module, optimizer: OptimizerFactory | None = None) -> None:
        self.module = module
        self.trainable: nn.Module = module
        self.optimizer = optimizer(module.parameters()) if optimizer is not None else None
        if self.optimizer is None:
            module.requires_grad_(False)
            module.eval()

    @property
    def frozen(self) -> bool:
        return self.optimizer is None

    def to(self, device: torch.device) -> "AuxiliaryNetwork":
        """Move the network (in place: the optimiser keeps the same parameters) and its optimiser state."""
        self.module.to(device)
        if self.optimizer is not None:
            for state in self.optimizer.state.values():
                for k, v in state.items():
                    if isinstance(v, torch.Tensor) and k != "step":
                        state[k] = v.to(device)
        return self

    def step(self, loss: torch.Tensor) -> float:
        """One optimiser step of the network on ``loss`` (computed with :attr:`trainable`); returns its value."""
        if self.optimizer is None:
            raise RuntimeError("a frozen auxiliary network has no optimiser to step")
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)  # nothing of its update lingers into the model's step
        return float(loss.detach())

    def state(self) -> dict[str, Any]:
        """What a checkpoint keeps: weights and optimiser state of a trained network; nothing of a frozen one."""
        if self.optimizer is None:
            return {}
        return {"module": self.module.state_dict(), "optimizer": self.optimizer.state_dict()}

    def load_state(self, state: dict[str, Any]) -> None:
        if self.optimizer is not None:
            self.module.load_state_dict(state["module"])
            self.optimizer.load_state_dict(state["optimizer"])


class TrainsDiscriminator:
    """Mixin of a GAN term: one discriminator, built from a private seed (building the term leaves the global
    random stream as it is) and trained by the engine with Adam."""

    networks: dict[str, AuxiliaryNetwork]

    def declare_discriminator(self, build: Callable[[], nn.Module], seed: int, lr: float,
                              betas: Iterable[float]) -> None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            d = build()
        b = tuple(betas)
        self.networks = {"discriminator": AuxiliaryNetwork(d, lambda p: torch.optim.Adam(p, lr=lr, betas=b))}

    @property
    def discriminator(self) -> nn.Module:
        return self.networks["discriminator"].module
