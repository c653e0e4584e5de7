"""Several trained segmenters as one: the mean of their softmax probabilities (nnU-Net's fold ensembling).

Why: seeds of the same method differ by several Dice points at small label budgets (benchmarks/RESULTS.md); the
mean of their probabilities is steadier than any one of them. The ensemble returns ``logits = log(mean p)``, so
every consumer that applies a softmax (prediction, validation, the dense CRF) sees the mean probabilities, and
``bias`` (bias-field models) is the mean of the members' bias fields.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn as nn


class ProbabilityEnsemble(nn.Module):
    """Mean softmax of ``members`` (each returns ``{"logits": (B, C, H, W)[, "bias"]}`` with the same C)."""

    def __init__(self, members: Sequence[nn.Module]) -> None:
        super().__init__()
        if len(members) < 2:
            raise ValueError(f"an ensemble needs at least two members, got {len(members)}")
        self.members = nn.ModuleList(members)
        self.divisor = math.lcm(*(int(getattr(m, "divisor", 16)) for m in members))  # every member's padding

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        outs = [m(x) for m in self.members]
        classes = {o["logits"].shape[1] for o in outs}
        if len(classes) > 1:
            raise ValueError(f"ensemble members predict different numbers of classes: {sorted(classes)}")
        probs = torch.stack([torch.softmax(o["logits"].float(), 1) for o in outs]).mean(0)
        result = {"logits": probs.clamp_min(1e-12).log()}
        biases = [o["bias"].float() for o in outs if o.get("bias") is not None]
        if len(biases) == len(outs):  # a mixed ensemble has no bias field
            result["bias"] = torch.stack(biases).mean(0)
        return result
