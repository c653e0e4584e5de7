"""Slice-batched network forward over a preprocessed volume (shared by validation and prediction)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


@torch.inference_mode()
def predict_probabilities(model: nn.Module, image: np.ndarray | torch.Tensor, batch: int = 32) -> torch.Tensor:
    """Softmax probabilities ``(z, C, H, W)`` for a preprocessed volume ``(z, H, W)``.

    The input is padded to the network's divisor and cropped back, so any in-plane size works.
    """
    x = torch.as_tensor(image, dtype=torch.float32)
    z, h, w = x.shape
    d = getattr(model, "divisor", 16)
    ph, pw = (-h) % d, (-w) % d
    x = F.pad(x, (0, pw, 0, ph))
    out = []
    for i in range(0, z, batch):
        out.append(torch.softmax(model(x[i : i + batch, None])["logits"], 1))
    return torch.cat(out)[..., :h, :w]
