"""Where training and inference run: ``cpu`` (the default; the 2-core machines this toolkit is built for),
``cuda`` / ``cuda:N`` or ``mps`` where one is present, or ``auto`` (the first accelerator found, else CPU).

Data loading, patch sampling and augmentation stay on the CPU (their random generators live there, so a
seed gives the same batches on every device); batches are moved to the device just before the forward pass,
and outputs come back to the CPU for metrics and writing.
"""

from __future__ import annotations

import os
from typing import Any

import torch
import torch.nn as nn

from cmrseg.errors import ConfigError


def resolve_device(spec: str = "cpu") -> torch.device:
    """``torch.device`` for ``spec``; a clear error when the requested accelerator is not available.

    Under ``torchrun`` a bare ``cuda`` means this process's GPU, ``cuda:$LOCAL_RANK``.

    Example:
        >>> resolve_device("cpu")
        device(type='cpu')
    """
    spec = str(spec).strip().lower()
    if spec == "auto":
        if torch.cuda.is_available():
            spec = "cuda"
        elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            spec = "mps"
        else:
            spec = "cpu"
    try:
        dev = torch.device(spec)
    except RuntimeError as exc:
        raise ConfigError(f"device {spec!r} is not a device name; use cpu, cuda, cuda:N, mps or auto") from exc
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"device {spec!r} requested but this PyTorch build sees no CUDA GPU "
                              f"(torch {torch.__version__}, CUDA build: {torch.version.cuda or 'no'}); "
                              "use device cpu, or install a CUDA build of torch on a GPU machine")
        if dev.index is None:
            dev = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        if dev.index >= torch.cuda.device_count():
            raise ConfigError(f"device {spec!r}: only {torch.cuda.device_count()} CUDA device(s) visible")
    elif dev.type == "mps" and not (getattr(torch.backends, "mps", None) is not None
                                    and torch.backends.mps.is_available()):
        raise ConfigError(f"device {spec!r} requested but MPS is not available here; use device cpu")
    elif dev.type not in ("cpu", "cuda", "mps"):
        raise ConfigError(f"device {spec!r} is not supported; use cpu, cuda, cuda:N, mps or auto")
    return dev


def module_device(module: nn.Module) -> torch.device:
    """Device of a module's first parameter (or buffer); CPU for a module without either."""
    for t in module.parameters():
        return t.device
    for t in module.buffers():
        return t.device
    return torch.device("cpu")


def batch_to(batch: Any, device: torch.device) -> Any:
    """Tensors of a (nested) dict / list / tuple batch moved to ``device``; other values unchanged."""
    if isinstance(batch, torch.Tensor):
        return batch if batch.device == device else batch.to(device, non_blocking=device.type == "cuda")
    if isinstance(batch, dict):
        return {k: batch_to(v, device) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(batch_to(v, device) for v in batch)
    return batch
