"""``method.bn_streams``: only the named streams' forwards (including the extra forwards a loss runs, e.g. L_AI on
T(I)) move the BatchNorm running statistics; the others normalise with their own batch statistics."""

from __future__ import annotations

import copy

import pytest
import torch

from cmrseg.config.schema import MethodConfig, TermConfig
from cmrseg.errors import ConfigError
from cmrseg.engine.step import training_loss
from cmrseg.methods.base import Method, StepContext, frozen_bn_statistics
from cmrseg.models.unet import UNet2D

TERMS = [TermConfig(loss="dice_ce", stream="pairs"),
         TermConfig(loss="augmentation_invariance", stream="real", params={"intensity": {"p": 0.0}})]


def _batches() -> dict[str, dict[str, torch.Tensor]]:
    g = torch.Generator().manual_seed(0)
    pairs = {"image": torch.randn(4, 1, 32, 32, generator=g), "label": torch.randint(0, 4, (4, 32, 32), generator=g),
             "valid": torch.ones(4, 1, 32, 32)}
    real = {"image": 5.0 + 3.0 * torch.randn(4, 1, 32, 32, generator=g)}  # other statistics than the pairs
    return {"pairs": pairs, "real": real}


def _running(model: torch.nn.Module) -> list[torch.Tensor]:
    return [b.clone() for n, b in model.named_buffers() if n.endswith(("running_mean", "running_var"))]


def _after_step(bn_streams: list[str] | None) -> tuple[UNet2D, list[torch.Tensor]]:
    torch.manual_seed(0)
    model = UNet2D(features=(4, 8), dropout=0.0).train()
    start = copy.deepcopy(model)
    method = Method(MethodConfig(terms=TERMS, bn_streams=bn_streams))
    training_loss(method, _batches(), StepContext(model, 0, method.bn_streams))
    return start, _running(model)


def test_only_the_named_stream_moves_the_running_statistics() -> None:
    start, got = _after_step(["pairs"])
    with torch.no_grad():
        start(_batches()["pairs"]["image"])  # what one forward of the pairs alone does
    for a, b in zip(got, _running(start)):
        assert torch.allclose(a, b, atol=1e-6)
    # default: the real images' two forwards (the batch and T(batch), scaled x3 and shifted by 5) move them too
    _, every = _after_step(None)
    assert (every[0] - got[0]).abs().max() > 0.1 and (every[1] - got[1]).abs().max() > 0.1


def test_momentum_is_restored_even_after_an_error() -> None:
    model = UNet2D(features=(4, 8))
    with pytest.raises(RuntimeError), frozen_bn_statistics(model):
        raise RuntimeError("boom")
    assert {m.momentum for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)} == {0.1}


def test_unknown_bn_stream_is_refused_with_the_method_streams() -> None:
    with pytest.raises(ConfigError, match=r"bn_streams \['synthetic'\].*its streams: \['pairs', 'real'\]"):
        Method(MethodConfig(terms=TERMS, bn_streams=["synthetic"]))


def test_methods_with_their_own_forward_get_bn_streams_from_the_engine() -> None:
    # the engine runs every forward through StepContext.run, so a custom forward honours bn_streams too
    model = UNet2D(features=(4, 8), dropout=0.0).train()
    ctx = StepContext(model, 0, {"labelled"})
    with frozen_bn_statistics(model):
        pass
    before = _running(model)
    ctx.run("unlabelled", torch.randn(2, 1, 32, 32) * 3 + 5)
    assert all(torch.equal(a, b) for a, b in zip(before, _running(model)))
    ctx.run("labelled", torch.randn(2, 1, 32, 32) * 3 + 5)
    assert not all(torch.equal(a, b) for a, b in zip(before, _running(model)))
