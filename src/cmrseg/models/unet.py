"""A compact 2D U-Net sized for CPU training, exposing its bottleneck and last decoder features.

Extra heads (bias field, slice position, ...) read ``bottleneck`` / ``features`` from the output dict, so
methods add tasks without touching the network.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from cmrseg.errors import ConfigError
from cmrseg.models.heads import BiasHead, PositionHead, nested_logits

OUTPUTS = ("softmax", "nested")


def conv_block(cin: int, cout: int, dropout: float = 0.0) -> nn.Sequential:
    layers: list[nn.Module] = [
        nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.LeakyReLU(0.01, inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.LeakyReLU(0.01, inplace=True),
    ]
    if dropout > 0:
        layers.append(nn.Dropout2d(dropout))
    return nn.Sequential(*layers)


class UNet2D(nn.Module):
    """U-Net (Ronneberger et al. 2015) with batch norm, max-pool down, bilinear up + concat.

    Args:
        in_channels: image channels.
        num_classes: output classes (4: BG, RV, Myo, LV).
        features: channels per level, e.g. ``(16, 32, 64, 128, 256)``; input size must be divisible by
            ``2 ** (len(features) - 1)``.
        dropout: dropout at the bottleneck.
        bias_head: add a :class:`~cmrseg.models.heads.BiasHead` on the last decoder features; its field
            ``b`` in (0, 2) is returned as ``outputs["bias"]`` (N, 1, H, W), for the bias-field MS loss.
        output: ``"softmax"`` (``logits`` straight from the head) or ``"nested"`` (the head predicts 3
            channels; ``outputs["psi"]`` = their sigmoids (LV, LV+Myo, RV) and ``outputs["logits"]`` =
            ``log(nested_to_classes(psi) + 1e-6)``, so softmax / argmax over 4 classes work unchanged;
            needs ``num_classes == 4``).
        bias_grid: with ``bias_head``, predict the bias field on a ``bias_grid`` x ``bias_grid`` grid and
            upsample it bilinearly (a field too coarse to absorb the structures); default full resolution.
        psi_init: nested output only: initial value of the ``psi`` maps, one for all three or one each
            (LV, LV+Myo, RV): the head's bias is set to ``logit(psi_init)`` (its weights keep their random
            init); default: PyTorch's default init (``psi`` ~ 0.5 with a random offset).
        position_head: add a :class:`~cmrseg.models.heads.PositionHead` on the bottleneck; its slice
            position in (0, 1) is returned as ``outputs["position"]`` (N,), for the ``slice_position`` loss (SCN).

    The optional heads add state_dict keys only when enabled: a default model's keys are as before.
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 4,
                 features: tuple[int, ...] = (16, 32, 64, 128, 256), dropout: float = 0.1,
                 bias_head: bool = False, output: str = "softmax", bias_grid: int | None = None,
                 psi_init: float | Sequence[float] | None = None, position_head: bool = False) -> None:
        super().__init__()
        if output not in OUTPUTS:
            raise ConfigError(f"unknown UNet2D output '{output}'. Valid: {list(OUTPUTS)}.")
        if output == "nested" and num_classes != 4:
            raise ConfigError("output 'nested' encodes exactly 4 classes (BG, RV, Myo, LV); "
                              f"got num_classes={num_classes}.")
        self.output = output
        self.features = tuple(features)
        self.down = nn.ModuleList()
        cin = in_channels
        for i, f in enumerate(features):
            self.down.append(conv_block(cin, f, dropout if i == len(features) - 1 else 0.0))
            cin = f
        self.up = nn.ModuleList()
        for f_skip in reversed(features[:-1]):
            self.up.append(conv_block(cin + f_skip, f_skip))
            cin = f_skip
        self.head = nn.Conv2d(cin, 3 if output == "nested" else num_classes, 1)
        self.divisor = 2 ** (len(features) - 1)
        if psi_init is not None:
            values = [float(psi_init)] * 3 if isinstance(psi_init, (int, float)) else [float(v) for v in psi_init]
            if output != "nested" or len(values) != 3 or not all(0 < v < 1 for v in values):
                raise ConfigError(f"psi_init needs output 'nested' and one value or three values (LV, LV+Myo, RV) "
                                  f"in (0, 1); got output {output!r}, psi_init {psi_init}")
            with torch.no_grad():
                self.head.bias.copy_(torch.tensor([math.log(v / (1 - v)) for v in values]))
        self.bias_head = BiasHead(cin, grid=bias_grid) if bias_head else None
        self.position_head = PositionHead(self.features[-1]) if position_head else None

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        skips = []
        for i, block in enumerate(self.down):
            x = block(x)
            if i < len(self.down) - 1:
                skips.append(x)
                x = F.max_pool2d(x, 2)
        bottleneck = x
        for block, skip in zip(self.up, reversed(skips)):
            x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            x = block(torch.cat([x, skip], 1))
        raw = self.head(x)
        if self.output == "nested":
            psi = torch.sigmoid(raw)
            out = {"logits": nested_logits(psi), "psi": psi}
        else:
            out = {"logits": raw}
        out.update(bottleneck=bottleneck, features=x)
        if self.bias_head is not None:
            out["bias"] = self.bias_head(x)
        if self.position_head is not None:
            out["position"] = self.position_head(bottleneck)
        return out
