"""Slice-batched network forward over a preprocessed volume (shared by validation and prediction)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from cmrseg.device import module_device


@torch.inference_mode()
def predict_outputs(model: nn.Module, image: np.ndarray | torch.Tensor, batch: int = 32) -> dict[str, torch.Tensor]:
    """``{"probs": (z, C, H, W)}`` softmax probabilities for a preprocessed volume ``(z, H, W)``, plus
    ``"bias": (z, 1, H, W)`` when the model has a bias-field head.

    The input is padded to the network's divisor and cropped back, so any in-plane size works. Slices run
    on the model's device; the outputs are CPU tensors.
    """
    device = module_device(model)
    x = torch.as_tensor(image, dtype=torch.float32)
    z, h, w = x.shape
    d = getattr(model, "divisor", 16)
    x = F.pad(x, (0, (-w) % d, 0, (-h) % d))
    probs, bias = [], []
    for i in range(0, z, batch):
        out = model(x[i : i + batch, None].to(device))
        probs.append(torch.softmax(out["logits"].float(), 1).cpu())
        if out.get("bias") is not None:
            bias.append(out["bias"].float().cpu())
    result = {"probs": torch.cat(probs)[..., :h, :w]}
    if bias:
        result["bias"] = torch.cat(bias)[..., :h, :w]
    return result


def predict_probabilities(model: nn.Module, image: np.ndarray | torch.Tensor, batch: int = 32) -> torch.Tensor:
    """Softmax probabilities ``(z, C, H, W)`` for a preprocessed volume ``(z, H, W)``."""
    return predict_outputs(model, image, batch)["probs"]
