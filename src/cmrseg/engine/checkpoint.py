"""Self-describing checkpoints: weights + model config + preprocessing + full run config.

Saved with ``torch.save`` as plain dicts of tensors and JSON-like values, so they load with
``torch.load(weights_only=True)`` (no pickled code is ever executed on load).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from cmrseg.errors import InputError
from cmrseg.models.registry import ModelConfig, create_model


def save_checkpoint(path: str | Path, model: nn.Module, config: dict[str, Any], **extra: Any) -> None:
    """Atomically write a checkpoint; ``config`` is the resolved run config (``Config.model_dump``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"format": "cmrseg-checkpoint-v1", "model_state": model.state_dict(), "config": config, **extra}
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    os.close(fd)
    torch.save(payload, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise InputError("checkpoint file does not exist", path, "pass runs/<name>/checkpoints/best.pt")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any failure here means an unusable file
        raise InputError(f"cannot load checkpoint ({type(exc).__name__}: {exc})", path,
                         "use a checkpoint written by cmrseg") from exc
    if not isinstance(ckpt, dict) or ckpt.get("format") != "cmrseg-checkpoint-v1":
        raise InputError("not a cmrseg checkpoint (missing format tag)", path)
    return ckpt


def model_from_checkpoint(ckpt: dict[str, Any]) -> nn.Module:
    model = create_model(ModelConfig.model_validate(ckpt["config"]["model"]))
    model.load_state_dict(ckpt["model_state"])
    return model.eval()
