"""The fully convolutional network of Bai et al. for short-axis cardiac MR segmentation.

W. Bai et al., "Semi-supervised Learning for Network-Based Cardiac MR Image Segmentation", MICCAI 2017 (and
the network of "Automated cardiovascular magnetic resonance image analysis with fully convolutional
networks", JCMR 2018; reference code ``ukbb_cardiac/common/network.py``, ``build_FCN``): a VGG-16-like
encoder with batch norm whose scales are reached by stride-2 convolutions (no pooling), conv counts
2, 2, 3, 3, 3; every scale's features are mapped to a few channels (3x3 conv), upsampled to full
resolution and concatenated; two 1x1 conv layers ("fully connected" per pixel) and a 1x1 classifier follow.
Differences from the paper: bilinear upsampling instead of transposed convolutions (no checkerboard
artefacts, no parameters), and every width scales with ``width`` so a CPU-sized net is one argument away.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from cmrseg.errors import ConfigError


def conv_bn_relu(cin: int, cout: int, kernel: int = 3, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class VggFCN(nn.Module):
    """VGG-16-like FCN with multi-scale feature concatenation (Bai et al. 2017).

    Args:
        in_channels: image channels.
        num_classes: output classes (4: BG, RV, Myo, LV).
        width: channels of the first scale; scales have ``width * (1, 2, 4, 8, 8)`` (default 64: the paper's
            64, 128, 256, 512, 512; 16 is a CPU-sized net).
        convs: 3x3 convolutions per scale (paper: 2, 2, 3, 3, 3); the first of each scale after the first
            has stride 2, so the input size must be divisible by ``2 ** (len(convs) - 1)`` (``divisor``).
        fuse: channels each scale is mapped to before upsampling (default ``width // 2``: 32 as in the
            reference code).
        fc: channels of the two 1x1 conv layers (default ``width``: 64 as in the paper).

    The output dict has ``logits`` (N, C, H, W), ``features`` (the last 1x1 layer's output, full resolution)
    and ``bottleneck`` (the coarsest scale's features), like UNet2D.

    Example:
        >>> net = VggFCN(width=4)
        >>> net(torch.zeros(1, 1, 32, 32))["logits"].shape
        torch.Size([1, 4, 32, 32])
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 4, width: int = 64,
                 convs: Sequence[int] = (2, 2, 3, 3, 3), fuse: int | None = None, fc: int | None = None) -> None:
        super().__init__()
        if width < 1 or not convs or any(int(n) < 1 for n in convs):
            raise ConfigError(f"vgg-fcn needs width >= 1 and at least one conv per scale; got width={width}, "
                              f"convs={list(convs)}")
        widths = [width * min(2 ** i, 8) for i in range(len(convs))]
        fuse = fuse or max(1, width // 2)
        fc = fc or width
        self.scales = nn.ModuleList()
        cin = in_channels
        for i, (n, w) in enumerate(zip(convs, widths)):
            layers = [conv_bn_relu(cin, w, stride=1 if i == 0 else 2)]
            layers += [conv_bn_relu(w, w) for _ in range(int(n) - 1)]
            self.scales.append(nn.Sequential(*layers))
            cin = w
        self.fuse = nn.ModuleList(conv_bn_relu(w, fuse) for w in widths)
        self.fc = nn.Sequential(conv_bn_relu(fuse * len(widths), fc, kernel=1), conv_bn_relu(fc, fc, kernel=1))
        self.head = nn.Conv2d(fc, num_classes, 1)
        self.divisor = 2 ** (len(convs) - 1)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        size = x.shape[-2:]
        fused = []
        for scale, fuse in zip(self.scales, self.fuse):
            x = scale(x)
            f = fuse(x)
            fused.append(f if f.shape[-2:] == size else
                         F.interpolate(f, size=size, mode="bilinear", align_corners=False))
        features = self.fc(torch.cat(fused, 1))
        return {"logits": self.head(features), "features": features, "bottleneck": x}
