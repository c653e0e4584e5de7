"""Networks rebuilt from cmrseg checkpoints: the one way to load a trained or frozen network.

Every place that needs a network trained elsewhere (inference, a frozen shape autoencoder, a translator that
paints synthetic pairs, a teacher that sets a region of interest, a feature encoder, a registration model)
calls :func:`load_pretrained`; the checkpoint describes its own architecture (VoxelMorph's habit of storing
constructor arguments with the weights).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch.nn as nn

from cmrseg.checkpoint import load_checkpoint
from cmrseg.errors import ConfigError
from cmrseg.models.registry import ModelConfig, create_model


def model_from_checkpoint(ckpt: dict[str, Any]) -> nn.Module:
    """The network of a loaded checkpoint (architecture from its config), in eval mode."""
    model = create_model(ModelConfig.model_validate(ckpt["config"]["model"]))
    model.load_state_dict(ckpt["model_state"])
    return model.eval()


def load_pretrained(path: str | Path | None, expect: str | Sequence[str] | None = None, frozen: bool = True,
                    needed_by: str = "this run", hint: str = "") -> nn.Module:
    """A network from a cmrseg checkpoint; frozen (eval mode, no gradients to its weights) by default.

    Args:
        path: the checkpoint (``runs/<name>/checkpoints/best.pt``).
        expect: model name(s) the checkpoint must hold (e.g. ``"shape-ae"``); ``None`` accepts any.
        frozen: eval mode and ``requires_grad_(False)``.
        needed_by: what needs it, for the error messages (e.g. ``"loss 'shape_recon'"``).
        hint: how to get a suitable checkpoint, appended to the error messages.

    Raises:
        ConfigError: ``path`` is None, or the checkpoint holds another model than ``expect``.
        InputError: the file is missing, unreadable, or not a cmrseg checkpoint.
    """
    wanted = [expect] if isinstance(expect, str) else list(expect or [])
    kind = " or ".join(f"'{w}'" for w in wanted) or "a"
    tail = f"; {hint}" if hint else ""
    if path is None:
        raise ConfigError(f"{needed_by} needs a trained {kind} model checkpoint{tail}")
    ckpt = load_checkpoint(path)
    name = ckpt["config"]["model"]["name"]
    if wanted and name not in wanted:
        raise ConfigError(f"{path}: {needed_by} needs a {kind} checkpoint, but this one holds a '{name}' model{tail}")
    model = model_from_checkpoint(ckpt)
    if frozen:
        model.requires_grad_(False)
        model.eval()
    else:
        model.train()
    return model
