"""Shipped models: packaged half-precision weights load back, their checksum is checked before use."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch

from cmrseg.checkpoint import save_checkpoint
from cmrseg.errors import InputError
from cmrseg.models.pretrained import load_pretrained
from cmrseg.models.shipped import DEFAULT, default_model, shipped_models
from cmrseg.models.unet import UNet2D

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "package_model.py"


def _package(tmp_path: Path) -> tuple[Path, UNet2D]:
    spec = importlib.util.spec_from_file_location("package_model", BENCH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    torch.manual_seed(0)
    model = UNet2D(features=(4, 8))
    src = tmp_path / "run.pt"
    save_checkpoint(src, model, {"model": {"name": "unet", "params": {"features": [4, 8]}},
                                 "data": {"preprocess": {}}, "optim": {}}, optimizer_state={"big": 1})
    out_dir = tmp_path / "shipped"
    out_dir.mkdir()
    mod.package(src, DEFAULT, {"summary": "test model"}, out_dir)
    return out_dir, model


def test_packaged_weights_load_back_in_half_precision_and_checksum(tmp_path: Path) -> None:
    out_dir, model = _package(tmp_path)
    (shipped,) = shipped_models(out_dir)
    assert shipped.name == DEFAULT and shipped.summary == "test model" and len(shipped.card["sha256"]) == 64
    loaded = load_pretrained(default_model(out_dir), expect="unet")
    for k, v in model.state_dict().items():
        assert torch.allclose(v.float(), loaded.state_dict()[k].float(), atol=1e-2), k  # fp16 rounding only
    assert "optimizer_state" not in torch.load(shipped.weights, weights_only=True)


def test_tampered_or_missing_weights_are_refused(tmp_path: Path) -> None:
    out_dir, _ = _package(tmp_path)
    weights = out_dir / f"{DEFAULT}.pt"
    weights.write_bytes(weights.read_bytes()[:-1] + b"x")
    with pytest.raises(InputError, match="checksum"):
        default_model(out_dir)
    weights.unlink()
    with pytest.raises(InputError, match="missing"):
        default_model(out_dir)
    (out_dir / f"{DEFAULT}.json").unlink()
    with pytest.raises(InputError, match="no shipped model"):
        default_model(out_dir)


def test_the_packaged_default_model_matches_its_checksum_and_loads() -> None:
    (model,) = [m for m in shipped_models() if m.name == DEFAULT]
    net = load_pretrained(default_model(), expect="unet")
    assert sum(p.numel() for p in net.parameters()) > 1_000_000 and "ACDC val" in model.card["numbers"]
