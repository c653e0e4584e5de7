"""Shape/position prior methods: the AE pre-trains through the one engine (reconstruction validation), every
prior method trains 4 iterations on the phantom with a finite loss, and missing pieces fail early and clearly."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch

from cmrseg.config import load_config
from cmrseg.config.schema import MethodConfig
from cmrseg.engine import train
from cmrseg.checkpoint import load_checkpoint
from cmrseg.models.pretrained import model_from_checkpoint
from cmrseg.errors import ConfigError
from cmrseg.methods.base import create_method
from cmrseg.models.shape_ae import ShapeAE, load_shape_ae
from testkit import tiny_overrides

AE = ["model.name=shape-ae", "model.params={features: [4, 4, 8, 8], code_channels: 4}", "method.name=shape-ae"]
POS = ["model.params.position_head=true"]


@pytest.fixture(scope="module")
def shape_ae_run(phantom_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train(load_config(None, tiny_overrides(phantom_root, tmp_path_factory.mktemp("ae"), "ae") + AE))


def test_shape_ae_pretrains_on_label_maps_and_validates_reconstruction(shape_ae_run: Path) -> None:
    hist = pd.read_csv(shape_ae_run / "history.csv")
    assert len(hist) == 2 and torch.isfinite(torch.tensor(hist["loss/total"].values)).all()
    recon = [f"val/recon_dice_{s}" for s in ("LV", "Myo", "RV", "mean")]
    assert set(recon) <= set(hist.columns) and "val/dice_mean" not in hist.columns  # no segmentation Dice
    assert hist[recon].apply(lambda c: c.between(0, 1)).all().all()
    ck = load_checkpoint(shape_ae_run / "checkpoints" / "best.pt")
    assert ck["best_metric"] == pytest.approx(hist["val/recon_dice_mean"].max())  # selected on reconstruction
    ae = load_shape_ae(shape_ae_run / "checkpoints" / "best.pt", "test")
    assert isinstance(ae, ShapeAE) and not any(p.requires_grad for p in ae.parameters())


@pytest.mark.parametrize("method,extra,term", [
    ("scn", POS, "slice_position"), ("srnn", [], "shape_recon"), ("srscn", POS, "shape_recon"),
    ("acnn", [], "shape_code"), ("shape-adversarial", [], "shape_adversarial")])
def test_prior_method_trains_with_finite_loss(method: str, extra: list[str], term: str, shape_ae_run: Path,
                                              phantom_root: Path, tmp_path: Path) -> None:
    ae = shape_ae_run / "checkpoints" / "best.pt"
    ov = tiny_overrides(phantom_root, tmp_path, method) + [f"method.name={method}", f"method.params.autoencoder={ae}"]
    run = train(load_config(None, ov + extra))
    hist = pd.read_csv(run / "history.csv")
    assert len(hist) == 2 and torch.isfinite(torch.tensor(hist["loss/total"].values)).all()
    assert torch.isfinite(torch.tensor(hist[f"loss/{term}@labelled"].values)).all()
    model = model_from_checkpoint(load_checkpoint(run / "checkpoints" / "best.pt"))
    out = model(torch.randn(2, 1, 64, 64))
    assert out["logits"].shape == (2, 4, 64, 64)
    if extra == POS:
        assert out["position"].shape == (2,) and bool(((out["position"] > 0) & (out["position"] < 1)).all())


def test_plausibility_term_on_the_unlabelled_stream_composes_with_any_method(shape_ae_run: Path, phantom_root: Path,
                                                                            tmp_path: Path) -> None:
    ae = shape_ae_run / "checkpoints" / "best.pt"
    terms = ("[{loss: dice_ce, stream: labelled}, {loss: shape_plausibility, stream: unlabelled, weight: 8.2}, "
             "{loss: slice_position, stream: unlabelled, weight: 0.1, params: {target: slice_position}}]")
    ov = tiny_overrides(phantom_root, tmp_path, "plaus") + [
        "data.labelled=1", "method.name=srscn", f"method.params.autoencoder={ae}", f"method.terms={terms}", *POS]
    hist = pd.read_csv(train(load_config(None, ov)) / "history.csv")
    for col in ("loss/shape_plausibility@unlabelled", "loss/slice_position@unlabelled", "loss/total"):
        assert torch.isfinite(torch.tensor(hist[col].values)).all()


def test_missing_autoencoder_or_position_head_fail_before_training(phantom_root: Path, tmp_path: Path) -> None:
    for name in ("srnn", "srscn", "acnn"):
        with pytest.raises(ConfigError, match="method.params.autoencoder"):
            create_method(MethodConfig(name=name))
    create_method(MethodConfig(name="shape-adversarial"))  # needs nothing extra
    with pytest.raises(ConfigError, match="position_head: true"):
        train(load_config(None, tiny_overrides(phantom_root, tmp_path, "scn") + ["method.name=scn"]))
    with pytest.raises(ConfigError, match="model.name: shape-ae"):
        train(load_config(None, tiny_overrides(phantom_root, tmp_path, "ae") + ["method.name=shape-ae"]))


def test_denoising_shape_ae_trains_on_corrupted_maps_and_is_selected_on_repair(phantom_root: Path,
                                                                               tmp_path: Path) -> None:
    ov = tiny_overrides(phantom_root, tmp_path, "dae") + AE + ["method.params.corruption={max_blobs: 3}"]
    run = train(load_config(None, ov))
    hist = pd.read_csv(run / "history.csv")
    cols = [f"val/{k}_dice_{s}" for k in ("recon", "denoise", "corrupt") for s in ("LV", "Myo", "RV", "mean")]
    assert set(cols) <= set(hist.columns) and hist[cols].apply(lambda c: c.between(0, 1)).all().all()
    assert (hist["val/corrupt_dice_mean"] < 1).all()  # the validation maps really are corrupted
    ck = load_checkpoint(run / "checkpoints" / "best.pt")
    assert ck["best_metric"] == pytest.approx(hist["val/denoise_dice_mean"].max())
    with pytest.raises(ConfigError, match="corruption"):
        create_method(MethodConfig(name="shape-ae", params={"corruption": {"blobs": 3}}))
