"""Exponential moving average (EMA) of the weights, for validation, model selection and inference.

With few labelled patients the validation Dice of the raw weights swings by several points between
evaluations (e.g. +-0.05 at 3 labelled patients, benchmarks/RESULTS.md), so "best checkpoint" partly picks
noise. The EMA ``theta_ema <- d * theta_ema + (1 - d) * theta`` (Polyak averaging; the teacher of Mean Teacher)
is a smoother model at no training cost. ``optim.ema: d`` turns it on: the engine validates, selects and saves
the averaged weights as the checkpoint's ``model_state`` (what ``predict`` loads) and keeps the raw weights as
``train_model_state`` for ``--resume``. Built on :class:`torch.optim.swa_utils.AveragedModel` (buffers such as
BatchNorm statistics are averaged too).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from cmrseg.errors import ConfigError


def make_ema(model: nn.Module, decay: float | None) -> AveragedModel | None:
    """An EMA copy of ``model`` with ``decay`` (None: no EMA). Update it after every optimizer step."""
    if decay is None:
        return None
    if not 0.0 < decay < 1.0:
        raise ConfigError(f"optim.ema must be a decay in (0, 1), e.g. 0.99, got {decay}")
    return AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)


def ema_state(ema: AveragedModel) -> dict[str, Any]:
    return {"ema_n_averaged": int(ema.n_averaged.item())}


def load_ema(ema: AveragedModel, weights: dict[str, torch.Tensor], ckpt: dict[str, Any]) -> None:
    """Restore the averaged weights (a checkpoint's ``model_state``) and the update count."""
    ema.module.load_state_dict(weights)
    ema.n_averaged.fill_(int(ckpt.get("ema_n_averaged", 1)))
