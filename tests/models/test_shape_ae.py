"""Shape autoencoder: code at 1/16, any size divisible by 16, checkpoint round trip (frozen), learns a shape."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from cmrseg.checkpoint import save_checkpoint
from cmrseg.losses.shape import one_hot
from cmrseg.models.registry import ModelConfig, create_model
from cmrseg.models.shape_ae import ShapeAE, load_shape_ae


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("size", [128, 224])
def test_code_is_at_one_sixteenth_and_reconstruction_has_the_input_shape(size: int) -> None:
    ae = ShapeAE(code_channels=8).eval()
    out = ae(torch.zeros(2, 4, size, size))
    assert out["logits"].shape == (2, 4, size, size)
    assert out["code"].shape == (2, 8, size // 16, size // 16)
    assert out["code"].abs().max() < 1  # tanh codes


def test_bad_inputs_are_named() -> None:
    ae = ShapeAE()
    with pytest.raises(ValueError, match="class maps"):
        ae(torch.zeros(1, 1, 32, 32))
    with pytest.raises(ValueError, match="divisible by 16"):
        ae(torch.zeros(1, 4, 40, 40))


def test_registry_checkpoint_round_trip_gives_a_frozen_identical_model(tmp_path: Path) -> None:
    cfg = ModelConfig(name="shape-ae", params={"features": [4, 8, 8, 8], "code_channels": 2})
    torch.manual_seed(0)
    model = create_model(cfg).eval()
    save_checkpoint(tmp_path / "ae.pt", model, {"model": cfg.model_dump()})
    loaded = load_shape_ae(tmp_path / "ae.pt", "test")
    x = torch.softmax(torch.randn(2, 4, 32, 32), 1)
    assert torch.allclose(loaded(x)["logits"], model(x)["logits"])
    assert not loaded.training and not any(p.requires_grad for p in loaded.parameters())


def test_autoencoder_learns_to_reconstruct_a_ring_shape() -> None:
    torch.manual_seed(0)
    yy, xx = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="ij")
    r = ((yy - 16) ** 2 + (xx - 15) ** 2).sqrt()
    label = torch.zeros(32, 32, dtype=torch.long)
    label[r < 10] = 2
    label[r < 6] = 3
    label[(xx > 24) & (r > 10) & (r < 14)] = 1
    x = one_hot(label[None], 4)
    ae = ShapeAE(features=(8, 8, 16, 16), code_channels=4)
    opt = torch.optim.Adam(ae.parameters(), lr=1e-2)
    for _ in range(60):
        loss = F.cross_entropy(ae(x)["logits"], label[None])
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():  # train-mode batch norm: 60 steps are too few for the running statistics
        pred = ae(x)["logits"].argmax(1)[0]
    for code in (1, 2, 3):
        p, g = pred == code, label == code
        assert 2 * (p & g).sum() / (p.sum() + g.sum()) > 0.85, code
