"""Adversarial shape prior: a discriminator between predicted and ground-truth label maps.

After P. Luc et al., "Semantic Segmentation using Adversarial Networks" (NIPS workshop 2016) and, for the
weight scale, W.-C. Hung et al., "Adversarial Learning for Semi-Supervised Semantic Segmentation" (BMVC 2018,
lambda_adv = 0.01): the segmenter is penalised when a discriminator can tell its softmax maps from one-hot
ground-truth maps.

How it fits the one engine: the loss *declares* its discriminator with an Adam optimiser
(:class:`~cmrseg.models.auxiliary.AuxiliaryNetwork`); the engine owns it (device, data-parallel wrapper,
checkpoints). Each training step the engine first updates the discriminator with :meth:`auxiliary_losses` on
*detached* maps (real = one-hot GT, fake = softmax prediction; BCE), then the term's value is the segmenter's
non-saturating generator loss ``BCE(D(p), real)``, computed with the discriminator's weights frozen so the
model's backward reaches the segmenter only. Caveat: a discriminator on maps alone can partly tell soft from
hard maps, so the term also pushes predictions toward confident ones.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from cmrseg.losses.registry import register_loss
from cmrseg.losses.shape import one_hot
from cmrseg.models.auxiliary import TrainsDiscriminator


class ShapeDiscriminator(nn.Module):
    """Small CNN: stride-2 convs with LeakyReLU(0.2), global average pool, one logit per map (real = high)."""

    def __init__(self, in_channels: int = 4, features: Sequence[int] = (16, 32, 64, 64)) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin = in_channels
        for f in features:
            layers += [nn.Conv2d(cin, f, 4, stride=2, padding=1), nn.LeakyReLU(0.2, inplace=True)]
            cin = f
        self.body = nn.Sequential(*layers)
        self.out = nn.Linear(cin, 1)

    def forward(self, maps: torch.Tensor) -> torch.Tensor:
        return self.out(self.body(maps).mean(dim=(-2, -1)))[:, 0]


@register_loss("shape_adversarial")
class ShapeAdversarial(TrainsDiscriminator):
    """Generator loss of an adversarial shape prior, with a discriminator the engine trains (see module docstring).

    Args:
        lr, betas: the discriminator's Adam settings (DCGAN defaults).
        features: discriminator channels per stride-2 stage.
        num_classes: channels of the maps.
        seed: seed of the discriminator's initial weights (drawn from a private RNG, so building the loss does
            not shift the global random stream).
    """

    def __init__(self, lr: float = 1e-4, betas: tuple[float, float] = (0.5, 0.999),
                 features: Sequence[int] = (16, 32, 64, 64), num_classes: int = 4, seed: int = 0) -> None:
        self.declare_discriminator(lambda: ShapeDiscriminator(num_classes, features), seed, lr, betas)

    def auxiliary_losses(self, outputs: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]
                         ) -> dict[str, torch.Tensor]:
        """The discriminator's BCE on detached maps (real = one-hot GT, fake = softmax), one forward for both."""
        aux = self.networks["discriminator"]
        aux.module.requires_grad_(True)
        probs = torch.softmax(outputs["logits"], 1).detach()
        real = one_hot(batch["label"], probs.shape[1]).to(probs.dtype)
        logits = aux.trainable(torch.cat([real, probs]))
        target = torch.cat([torch.ones(len(real)), torch.zeros(len(probs))]).to(logits)
        return {"discriminator": F.binary_cross_entropy_with_logits(logits, target) * 2.0}

    def __call__(self, outputs: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]) -> torch.Tensor:
        probs = torch.softmax(outputs["logits"], 1)
        self.discriminator.requires_grad_(False)  # the segmenter's backward must not reach D's weights
        d_fake = self.discriminator(probs)
        return F.binary_cross_entropy_with_logits(d_fake, torch.ones_like(d_fake))
