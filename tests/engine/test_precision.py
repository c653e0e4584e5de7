"""bf16 mixed precision: the forward runs in bfloat16 (its result differs from fp32 by bf16 rounding, not
more), losses see float32 outputs, gradients and weights stay float32, and a training run with it works."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from testkit import tiny_overrides

from cmrseg.config import load_config
from cmrseg.engine import train
from cmrseg.checkpoint import load_checkpoint
from cmrseg.engine.precision import AutocastForward, with_precision
from cmrseg.errors import ConfigError


class TwoOutputs(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 4, 3, padding=1)

    def forward(self, x: torch.Tensor) -> dict:
        y = self.conv(x)
        return {"logits": y, "pair": (y.sum(), torch.ones(1, dtype=torch.long))}


def test_forward_in_bf16_outputs_float32_and_close_to_fp32() -> None:
    torch.manual_seed(0)
    inner, x = TwoOutputs(), torch.randn(2, 1, 16, 16)
    seen = {}
    inner.conv.register_forward_hook(lambda m, i, o: seen.update(dtype=o.dtype))  # returns None: output kept
    out = with_precision(inner, "bf16", torch.device("cpu"))(x)
    assert seen["dtype"] == torch.bfloat16  # the convolution really ran in bf16
    assert out["logits"].dtype == torch.float32 and out["pair"][0].dtype == torch.float32
    assert out["pair"][1].dtype == torch.long  # integer outputs untouched
    ref = inner(x)["logits"]
    err = (out["logits"] - ref).abs().max() / ref.abs().max()
    assert 0 < err < 2e-2  # bf16 rounding (8-bit mantissa): different from fp32, but only by that
    out["logits"].sum().backward()
    assert inner.conv.weight.grad is not None and inner.conv.weight.grad.dtype == torch.float32
    assert with_precision(inner, "fp32", torch.device("cpu")) is inner
    with pytest.raises(ValueError, match="precision"):
        with_precision(inner, "fp16", torch.device("cpu"))


def test_training_with_bf16_saves_float32_unwrapped_weights(phantom_root: Path, tmp_path: Path) -> None:
    run = train(load_config(None, tiny_overrides(phantom_root, tmp_path) + ["train.precision=bf16"]))
    state = load_checkpoint(run / "checkpoints" / "last.pt")["model_state"]
    assert not any(k.startswith("inner.") for k in state)  # the wrapper is not what is saved
    assert all(v.dtype == torch.float32 for v in state.values() if v.is_floating_point())
    assert isinstance(AutocastForward(torch.nn.Identity()).inner, torch.nn.Identity)


def test_unknown_precision_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="precision"):
        load_config(None, ["train.precision=fp8"])
