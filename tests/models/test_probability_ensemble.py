"""ProbabilityEnsemble: softmax of its output = mean of the members' softmax; bias fields averaged."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from cmrseg.models.ensemble import ProbabilityEnsemble


class Fixed(nn.Module):
    """Returns the same logits (and optionally bias) for every pixel."""

    def __init__(self, logits: list[float], bias: float | None = None, divisor: int = 16) -> None:
        super().__init__()
        self.logits, self.bias, self.divisor = torch.tensor(logits), bias, divisor

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        b, _, h, w = x.shape
        out = {"logits": self.logits.view(1, -1, 1, 1).expand(b, -1, h, w)}
        if self.bias is not None:
            out["bias"] = torch.full((b, 1, h, w), self.bias)
        return out


def test_ensemble_softmax_is_the_mean_of_the_members_probabilities() -> None:
    a, b = Fixed([2.0, 0.0, 0.0, 0.0], bias=1.0, divisor=16), Fixed([0.0, 0.0, 0.0, 3.0], bias=3.0, divisor=8)
    ens = ProbabilityEnsemble([a, b])
    out = ens(torch.zeros(1, 1, 4, 4))
    want = (torch.softmax(a.logits, 0) + torch.softmax(b.logits, 0)) / 2
    assert torch.allclose(torch.softmax(out["logits"], 1)[0, :, 0, 0], want, atol=1e-6)
    assert torch.allclose(out["bias"], torch.full((1, 1, 4, 4), 2.0))
    assert ens.divisor == 16
    assert "bias" not in ProbabilityEnsemble([a, Fixed([0.0] * 4)])(torch.zeros(1, 1, 4, 4))
    with pytest.raises(ValueError, match="at least two"):
        ProbabilityEnsemble([a])
    with pytest.raises(ValueError, match="different numbers of classes"):
        ProbabilityEnsemble([a, Fixed([0.0, 1.0])])(torch.zeros(1, 1, 4, 4))
