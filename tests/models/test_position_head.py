"""SCN position head on the U-Net bottleneck: optional, (N,) in (0, 1), trainable, default model unchanged."""

from __future__ import annotations

import pytest
import torch

from cmrseg.models.unet import UNet2D


pytestmark = pytest.mark.usefixtures("one_thread")


def test_position_head_is_optional_and_regresses_positions() -> None:
    torch.manual_seed(0)
    plain = UNet2D(features=(4, 8, 16))
    assert "position" not in plain(torch.zeros(2, 1, 32, 32))
    model = UNet2D(features=(4, 8, 16), position_head=True)
    assert set(model.state_dict()) - set(plain.state_dict()) == {
        "position_head.mlp.0.weight", "position_head.mlp.0.bias", "position_head.mlp.2.weight",
        "position_head.mlp.2.bias"}
    # two image types whose positions differ: the head learns to tell them apart
    x = torch.cat([torch.zeros(4, 1, 32, 32), torch.ones(4, 1, 32, 32)])
    target = torch.tensor([0.1] * 4 + [0.9] * 4)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(40):
        pos = model(x)["position"]
        loss = torch.nn.functional.mse_loss(pos, target)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    pos = model(x)["position"]
    assert pos.shape == (8,) and bool(((pos > 0) & (pos < 1)).all())
    assert (pos - target).abs().max() < 0.1
