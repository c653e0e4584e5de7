"""Label-to-image translator: shapes of every code and output, style controls appearance, presets, checkpoint
round trip (frozen), and a few steps of reconstruction training lower the reconstruction losses."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from cmrseg.checkpoint import save_checkpoint
from cmrseg.errors import ConfigError
from cmrseg.losses.shape import one_hot
from cmrseg.models.registry import ModelConfig, create_model
from cmrseg.models.translator import Label2Image, MultiScaleDiscriminator, load_translator
from cmrseg.models.unet import UNet2D

pytestmark = pytest.mark.usefixtures("one_thread")
TINY = {"dim": 4, "n_res": 1, "mlp_dim": 16}


def _label(n: int = 2, size: int = 32) -> torch.Tensor:
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    r = ((yy - size // 2) ** 2 + (xx - size // 2) ** 2).float().sqrt()
    lab = torch.zeros(size, size, dtype=torch.long)
    lab[r < size / 4] = 2
    lab[r < size / 8] = 3
    lab[(xx < size // 4) & (r < size / 2.5)] = 1
    return lab.expand(n, size, size).clone()


def test_codes_and_outputs_have_the_documented_shapes() -> None:
    torch.manual_seed(0)
    t = Label2Image(**TINY).eval()
    lab, img = one_hot(_label(2, 32), 4), torch.randn(2, 1, 32, 32)
    out = t(lab, img, image_to_label=True)
    c = t.content_label.out_channels
    assert c == 16 and out["content_label"].shape == out["content_image"].shape == (2, c, 8, 8)  # 1/4 size
    assert out["style_image"].shape == out["style"].shape == out["style_fake"].shape == (2, 8)
    for key in ("fake_image", "recon_image", "real_image"):
        assert out[key].shape == (2, 1, 32, 32), key
    for key in ("recon_label_logits", "cycle_label_logits", "fake_label_logits"):
        assert out[key].shape == (2, 4, 32, 32), key
    assert out["position_logits"].shape == out["position_logits_fake"].shape == (2, 5)
    assert "fake_label_logits" not in t(lab, img)  # the image -> label direction only on request
    d = MultiScaleDiscriminator(dim=4, n_scales=3)(torch.randn(2, 1, 64, 64))
    assert [tuple(o.shape) for o in d] == [(2, 1, 8, 8), (2, 1, 4, 4), (2, 1, 2, 2)]


def test_style_changes_the_image_and_the_same_style_reproduces_it() -> None:
    torch.manual_seed(0)
    t = Label2Image(**TINY).eval()
    lab = one_hot(_label(1, 32), 4)
    s1, s2 = t.sample_style(1, torch.Generator().manual_seed(1)), t.sample_style(1, torch.Generator().manual_seed(2))
    a, b = t.translate(lab, s1), t.translate(lab, s2)
    assert a.shape == (1, 1, 32, 32)
    assert (a - b).abs().mean() > 1e-3 * a.abs().mean()
    assert torch.equal(a, t.translate(lab, s1.clone()))


def test_spatial_noise_varies_the_background_far_from_the_heart() -> None:
    """With noise channels, two noise draws under one style give different backgrounds far from the heart (the
    plain model paints that region identically, being a function of the constant background class only); the
    same noise reproduces the image."""
    torch.manual_seed(0)
    lab = one_hot(torch.zeros(1, 64, 64, dtype=torch.long), 4)  # background only: nothing to anchor texture to
    lab[..., 28:36, 28:36] = 0
    lab[:, 3, 28:36, 28:36] = 1  # a small "LV" in the middle
    style = torch.zeros(1, 8)
    far = (slice(None), slice(None), slice(2, 14), slice(2, 14))  # a corner patch far from the LV
    plain = Label2Image(**TINY).eval()
    assert plain.noise_channels == 0 and plain.content_label.down[0].in_channels == 4
    noisy = Label2Image(**TINY, noise=2).eval()
    n1, n2 = noisy.sample_noise(lab, torch.Generator().manual_seed(1)), noisy.sample_noise(lab, torch.Generator().manual_seed(2))
    assert n1.shape == (1, 2, 64, 64) and 0.3 < float(n1.std()) < 1.0  # smooth: bilinear from a 16 x 16 grid
    a, b = noisy.translate(lab, style, n1), noisy.translate(lab, style, n2)
    assert (a[far] - b[far]).abs().mean() > 1e-3 * a.abs().mean()
    assert torch.equal(a, noisy.translate(lab, style, n1.clone()))
    assert noisy.encode_label(lab).shape == plain.encode_label(lab).shape  # noise drawn when not given


def test_presets_and_bad_inputs() -> None:
    compact, large = Label2Image(), Label2Image(preset="large")
    assert sum(p.numel() for p in large.parameters()) > 20 * sum(p.numel() for p in compact.parameters())
    with pytest.raises(ConfigError, match="preset"):
        Label2Image(preset="huge")
    with pytest.raises(ConfigError, match="features"):
        Label2Image(features=[4, 8])
    with pytest.raises(ValueError, match="divisible by 4"):
        compact.encode_label(torch.zeros(1, 4, 30, 30))
    with pytest.raises(ValueError, match="label maps"):
        compact.encode_label(torch.zeros(1, 1, 32, 32))


def test_registry_checkpoint_round_trip_gives_a_frozen_identical_translator(tmp_path: Path) -> None:
    cfg = ModelConfig(name="label2image", params=TINY)
    torch.manual_seed(0)
    model = create_model(cfg).eval()
    save_checkpoint(tmp_path / "t.pt", model, {"model": cfg.model_dump()})
    loaded = load_translator(tmp_path / "t.pt", "test")
    lab, s = one_hot(_label(2, 32), 4), torch.randn(2, 8)
    assert torch.allclose(loaded.translate(lab, s), model.translate(lab, s))
    assert not loaded.training and not any(p.requires_grad for p in loaded.parameters())
    unet = {"model": {"name": "unet", "params": {"features": [4, 8]}}}
    save_checkpoint(tmp_path / "u.pt", UNet2D(features=(4, 8)), unet)
    with pytest.raises(ConfigError, match="'label2image' checkpoint"):
        load_translator(tmp_path / "u.pt", "test")
    with pytest.raises(ConfigError, match="translator"):
        load_translator(None, "test")


def test_reconstruction_losses_fall_when_trained() -> None:
    torch.manual_seed(0)
    t = Label2Image(**TINY)
    label = _label(4, 32)
    image = (label.float()[:, None] / 3 + 0.1 * torch.randn(4, 1, 32, 32))
    opt = torch.optim.Adam(t.parameters(), lr=3e-3)

    def losses() -> tuple[torch.Tensor, torch.Tensor]:
        out = t(one_hot(label, 4), image)
        return F.l1_loss(out["recon_image"], image), F.cross_entropy(out["recon_label_logits"], label)

    first = [float(v.detach()) for v in losses()]
    for _ in range(40):
        img_l, lab_l = losses()
        opt.zero_grad()
        (img_l + lab_l).backward()
        opt.step()
    last = [float(v.detach()) for v in losses()]
    assert last[0] < 0.6 * first[0] and last[1] < 0.5 * first[1]
