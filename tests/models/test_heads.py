"""Optional U-Net heads: bias field and nested output; a default model's checkpoint layout is unchanged."""

from __future__ import annotations

import hashlib

import pytest
import torch

from cmrseg.errors import ConfigError
from cmrseg.losses.registry import create_loss
from cmrseg.models.heads import BiasHead, nested_to_classes
from cmrseg.models.registry import ModelConfig, create_model
from cmrseg.models.unet import UNet2D

SMALL = (4, 8, 16)


def layout_digest(model: torch.nn.Module) -> tuple[int, str]:
    sd = model.state_dict()
    text = ";".join(f"{k}:{tuple(v.shape)}" for k, v in sd.items())
    return len(sd), hashlib.sha256(text.encode()).hexdigest()


def test_default_state_dict_layout_unchanged() -> None:
    # digests of keys + shapes taken from UNet2D before the optional heads existed
    assert layout_digest(UNet2D()) == (110, "1b943c2643f4d8df1ca72d8c28b451d2894a822f7e180080f918a2d8c7e6d2c6")
    assert layout_digest(UNet2D(features=SMALL)) == (
        62, "544d2b3ad459562ec26e916a604277e62286bc7e7e484e9a0b718a95a78742e5")


def test_bias_head_adds_only_its_own_keys_and_starts_at_one() -> None:
    torch.manual_seed(0)
    base, model = UNet2D(features=SMALL), UNet2D(features=SMALL, bias_head=True)
    extra = set(model.state_dict()) - set(base.state_dict())
    assert set(base.state_dict()) <= set(model.state_dict())
    assert extra and all(k.startswith("bias_head.") for k in extra)
    missing, unexpected = model.load_state_dict(base.state_dict(), strict=False)  # old checkpoint, new head
    assert set(missing) == extra and not unexpected
    out = model.eval()(torch.randn(2, 1, 16, 16))
    assert out["logits"].shape == (2, 4, 16, 16) and out["bias"].shape == (2, 1, 16, 16)
    assert torch.allclose(out["bias"], torch.ones(()))  # zero-initialised last conv: b == 1


def test_bias_head_range() -> None:
    head = BiasHead(3, hidden=5)
    torch.nn.init.normal_(head.out.weight, std=10.0)
    with torch.no_grad():
        b = head(torch.randn(2, 3, 8, 8))
    assert b.shape == (2, 1, 8, 8) and float(b.min()) >= 0.0 and float(b.max()) <= 2.0 and float(b.std()) > 0.1


def test_nested_output() -> None:
    torch.manual_seed(0)
    model = create_model(ModelConfig(params={"features": list(SMALL), "output": "nested", "bias_head": True})).eval()
    out = model(torch.randn(2, 1, 16, 16))
    assert out["psi"].shape == (2, 3, 16, 16) and out["logits"].shape == (2, 4, 16, 16)
    assert out["bias"].shape == (2, 1, 16, 16) and out["features"].shape == (2, SMALL[0], 16, 16)
    phi = nested_to_classes(out["psi"])
    soft = torch.softmax(out["logits"], 1)
    assert torch.allclose(soft, (phi + 1e-6) / (phi + 1e-6).sum(1, keepdim=True), atol=1e-5)
    assert torch.equal(soft.argmax(1), phi.argmax(1))
    assert model.head.out_channels == 3


def test_invalid_options() -> None:
    with pytest.raises(ConfigError, match="nested"):
        UNet2D(num_classes=3, output="nested")
    with pytest.raises(ConfigError, match="softmax"):
        UNet2D(output="sigmoid")


@pytest.mark.parametrize("params,loss,loss_params", [
    ({"bias_head": True}, "mumford_shah", {"use_bias": True}),
    ({"bias_head": True, "output": "nested"}, "ms_nested", {}),
    ({"output": "nested"}, "dice_ce", {}),
])
def test_training_step_with_heads_is_finite(params: dict, loss: str, loss_params: dict) -> None:
    torch.manual_seed(0)
    model = UNet2D(features=SMALL, **params)
    batch = {"image": torch.randn(2, 1, 16, 16), "label": torch.randint(0, 4, (2, 16, 16))}
    value = create_loss(loss, loss_params)(model(batch["image"]), batch)
    value.backward()
    assert torch.isfinite(value)
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)


def test_low_resolution_bias_field() -> None:
    torch.manual_seed(0)
    full, coarse = UNet2D(features=SMALL, bias_head=True), UNet2D(features=SMALL, bias_head=True, bias_grid=4)
    assert list(coarse.state_dict()) == list(full.state_dict())  # same keys, same checkpoint layout
    assert torch.allclose(coarse.eval()(torch.randn(1, 1, 16, 16))["bias"], torch.ones(()))  # starts at b == 1
    head = BiasHead(3, hidden=5, grid=2)
    torch.nn.init.normal_(head.out.weight, std=1.0)
    with torch.no_grad():
        b = head(torch.randn(2, 3, 9, 9))
    # a 2 x 2 grid interpolated bilinearly with aligned corners: every row is linear in x, every column in y
    assert b.shape == (2, 1, 9, 9)
    assert torch.allclose(b[..., :, 2:] - b[..., :, 1:-1], b[..., :, 1:-1] - b[..., :, :-2], atol=1e-5)
    assert torch.allclose(b[..., 2:, :] - b[..., 1:-1, :], b[..., 1:-1, :] - b[..., :-2, :], atol=1e-5)
    with pytest.raises(ValueError, match="grid"):
        BiasHead(3, grid=1)


def test_psi_init() -> None:
    model = UNet2D(features=SMALL, output="nested", psi_init=0.2)
    torch.nn.init.zeros_(model.head.weight)
    psi = model.eval()(torch.randn(1, 1, 16, 16))["psi"]
    assert torch.allclose(psi, torch.full_like(psi, 0.2), atol=1e-6)
    model = UNet2D(features=SMALL, output="nested", psi_init=[0.1, 0.3, 0.5])
    torch.nn.init.zeros_(model.head.weight)
    psi = model.eval()(torch.randn(1, 1, 16, 16))["psi"]
    assert torch.allclose(psi[0, :, 3, 5], torch.tensor([0.1, 0.3, 0.5]), atol=1e-6)
    with pytest.raises(ConfigError, match="psi_init"):
        UNet2D(features=SMALL, psi_init=0.2)  # softmax output
    with pytest.raises(ConfigError, match="psi_init"):
        UNet2D(features=SMALL, output="nested", psi_init=1.0)
