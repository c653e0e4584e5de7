"""Bai et al. VGG-FCN: the paper's layer layout, shapes, gradients, and training with the one engine."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from cmrseg.config import load_config
from cmrseg.engine import train
from cmrseg.checkpoint import load_checkpoint
from cmrseg.models.pretrained import model_from_checkpoint
from cmrseg.errors import ConfigError
from cmrseg.models.registry import ModelConfig, create_model
from cmrseg.models.vgg_fcn import VggFCN
from testkit import tiny_overrides


pytestmark = pytest.mark.usefixtures("one_thread")


def test_default_layout_is_the_papers() -> None:
    net = VggFCN()
    convs = [m for m in net.scales.modules() if isinstance(m, torch.nn.Conv2d)]
    # VGG-16 convolutional part: 2x64, 2x128, 3x256, 3x512, 3x512; stride 2 opens scales 2-5
    assert [c.out_channels for c in convs] == [64] * 2 + [128] * 2 + [256] * 3 + [512] * 6
    assert [c.stride[0] for c in convs] == [1, 1, 2, 1, 2, 1, 1, 2, 1, 1, 2, 1, 1]
    assert all(c.kernel_size == (3, 3) for c in convs)
    fc = [m for m in net.fc.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size) for c in fc] == [(5 * 32, 64, (1, 1)), (64, 64, (1, 1))]
    assert (net.head.in_channels, net.head.out_channels) == (64, 4) and net.divisor == 16
    assert not any(isinstance(m, torch.nn.MaxPool2d) for m in net.modules())


@pytest.mark.parametrize("size", [(32, 32), (40, 56), (35, 29)])
def test_shapes_and_gradients(size: tuple[int, int]) -> None:
    torch.manual_seed(0)
    net = create_model(ModelConfig(name="vgg-fcn", params={"width": 4}))
    x = torch.randn(2, 1, *size)
    out = net(x)
    assert out["logits"].shape == (2, 4, *size) and out["features"].shape == (2, 4, *size)
    assert out["bottleneck"].shape[:2] == (2, 32) and out["bottleneck"].shape[2] == -(-size[0] // 16)
    out["logits"].logsumexp(1).mean().backward()
    grads = {n: p.grad for n, p in net.named_parameters()}
    assert all(g is not None and torch.isfinite(g).all() for g in grads.values())
    # every scale contributes to the output (multi-scale concatenation): deepest conv gets a gradient
    assert float(net.scales[-1][-1][0].weight.grad.abs().sum()) > 0


def test_width_scales_every_layer() -> None:
    small = VggFCN(width=16)
    convs = [m.out_channels for m in small.scales.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs == [16] * 2 + [32] * 2 + [64] * 3 + [128] * 6
    assert sum(p.numel() for p in small.parameters()) < sum(p.numel() for p in VggFCN().parameters()) / 10
    with pytest.raises(ConfigError, match="width"):
        VggFCN(width=0)


def test_overfits_one_batch() -> None:
    """Known answer: on a fixed image whose label is its bright square, a few Adam steps cut the CE loss."""
    torch.manual_seed(0)
    x = torch.zeros(2, 1, 32, 32)
    x[:, :, 8:20, 10:24] = 1.0
    y = (x[:, 0] > 0).long() * 3
    net = VggFCN(width=4)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    losses = []
    for _ in range(30):
        loss = torch.nn.functional.cross_entropy(net(x)["logits"], y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0] and losses[-1] == min(losses)


def test_trains_with_the_engine(phantom_root, tmp_path) -> None:
    base = [o for o in tiny_overrides(phantom_root, tmp_path, "vgg") if not o.startswith("model.params")]
    run = train(load_config(None, base + ["model.name=vgg-fcn", "model.params={width: 4}"]))
    hist = pd.read_csv(run / "history.csv")
    assert len(hist) == 2 and torch.isfinite(torch.tensor(hist["loss/total"].values)).all()
    model = model_from_checkpoint(load_checkpoint(run / "checkpoints" / "best.pt"))
    assert isinstance(model, VggFCN) and model(torch.randn(1, 1, 64, 64))["logits"].shape == (1, 4, 64, 64)
