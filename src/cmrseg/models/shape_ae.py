"""Convolutional autoencoder of label maps: the learned shape prior of SRSCN and ACNN.

The network sees only label maps (one-hot, or a segmenter's softmax), never images. It is pre-trained on
ground-truth label maps (method ``shape-ae``) and then used frozen inside shape losses
(:mod:`cmrseg.losses.shape`): its reconstruction projects a map onto the set of shapes it has learned
("SRNN", Q. Yue et al., "Cardiac Segmentation from LGE MRI Using Deep Neural Network Incorporating Shape and
Spatial Priors", MICCAI 2019) and its code is a compact shape descriptor (the T-L network of ACNN, O. Oktay et
al., "Anatomically Constrained Neural Networks (ACNN)", IEEE TMI 2018).

Architecture: four stride-2 conv stages (BN, LeakyReLU) down to 1/16 of the input size, a 1x1 conv to
``code_channels`` with a tanh (codes in (-1, 1), so code distances have a known scale), and a mirrored decoder
(bilinear x2 upsampling + conv blocks at 1/8, 1/4, 1/2; one 3x3 conv to ``num_classes`` logits at full size). Fully convolutional: 128 px patches and the
224 px field of view both work (sides divisible by 16).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from cmrseg.errors import ConfigError


def _block(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(cout),
        nn.LeakyReLU(0.01, inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.LeakyReLU(0.01, inplace=True))


class ShapeAE(nn.Module):
    """Autoencoder of ``num_classes``-channel label maps with a spatial code at 1/16 resolution.

    Args:
        num_classes: channels of the one-hot / probability maps (4: BG, RV, Myo, LV).
        features: channels of the four encoder stages (the decoder mirrors them).
        code_channels: channels of the code; a 128 px patch gives a ``code_channels`` x 8 x 8 code. Fewer
            channels = a tighter bottleneck = a stronger (and less exact) shape prior.

    ``forward(maps)`` returns ``{"logits": (N, C, H, W) reconstruction logits, "code": (N, K, H/16, W/16)}``.

    Example:
        >>> ae = ShapeAE()
        >>> out = ae(torch.zeros(2, 4, 128, 128))
        >>> tuple(out["logits"].shape), tuple(out["code"].shape)
        ((2, 4, 128, 128), (2, 8, 8, 8))
    """

    divisor = 16

    def __init__(self, num_classes: int = 4, features: Sequence[int] = (8, 16, 32, 64),
                 code_channels: int = 8) -> None:
        super().__init__()
        features = tuple(int(f) for f in features)
        if len(features) != 4:
            raise ConfigError(f"shape-ae features must list 4 stage widths (1/16 code), got {list(features)}")
        self.num_classes = num_classes
        enc, cin = [], num_classes
        for f in features:
            enc.append(_block(cin, f, stride=2))
            cin = f
        self.encoder = nn.Sequential(*enc)
        self.to_code = nn.Conv2d(cin, code_channels, 1)
        self.from_code = nn.Sequential(nn.Conv2d(code_channels, cin, 1), nn.LeakyReLU(0.01, inplace=True))
        self.decoder = nn.ModuleList()
        for f in reversed(features[:-1]):  # 1/8, 1/4, 1/2: the encoder's widths at the same resolutions
            self.decoder.append(_block(cin, f))
            cin = f
        self.head = nn.Conv2d(cin, num_classes, 3, padding=1)  # full resolution: one conv (the costliest level)

    def encode(self, maps: torch.Tensor) -> torch.Tensor:
        """Code ``(N, K, H/16, W/16)`` in (-1, 1) of maps ``(N, C, H, W)`` (one-hot or probabilities)."""
        if maps.ndim != 4 or maps.shape[1] != self.num_classes:
            raise ValueError(f"shape-ae expects (N, {self.num_classes}, H, W) class maps, got {tuple(maps.shape)}")
        if maps.shape[-1] % self.divisor or maps.shape[-2] % self.divisor:
            raise ValueError(f"shape-ae input sides must be divisible by {self.divisor}, got {tuple(maps.shape[-2:])}")
        return torch.tanh(self.to_code(self.encoder(maps)))

    def decode(self, code: torch.Tensor) -> torch.Tensor:
        """Reconstruction logits ``(N, C, 16 h, 16 w)`` of a code ``(N, K, h, w)``."""
        x = self.from_code(code)
        for block in self.decoder:
            x = block(F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False))
        return self.head(F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False))

    def forward(self, maps: torch.Tensor) -> dict[str, torch.Tensor]:
        code = self.encode(maps)
        return {"logits": self.decode(code), "code": code}


def load_shape_ae(path: str | Path | None, needed_by: str) -> ShapeAE:
    """A pre-trained :class:`ShapeAE` from a cmrseg checkpoint, frozen (eval mode, no gradients to its weights).

    Args:
        path: checkpoint written by ``cmrseg train`` with ``method.name: shape-ae``.
        needed_by: what needs it (for the error message), e.g. ``"loss 'shape_recon'"``.

    Raises:
        ConfigError: ``path`` is None, or the checkpoint is not a shape autoencoder.
        InputError: the file is missing or unreadable.
    """
    from cmrseg.models.pretrained import load_pretrained

    return load_pretrained(  # type: ignore[return-value]
        path, "shape-ae", needed_by=needed_by,
        hint="set its `autoencoder` parameter (or method.params.autoencoder) to a checkpoint, e.g. "
        "runs/shape_ae_acdc/checkpoints/best.pt; train one with `cmrseg train configs/acdc/shape_ae.yaml`")
