"""Translator training and synthetic supervision through the one engine, on the phantom: the translator trains
from label maps of one patient and images of others and selects on its own validation; its checkpoint feeds a
synthetic-pair stream; the unsupervised segmenter (synthetic Dice + MS* + L_AI) trains end to end."""

from __future__ import annotations

import copy
from pathlib import Path

import pandas as pd
import pytest
import torch

from cmrseg.config import load_config
from cmrseg.config.schema import MethodConfig, TermConfig
from cmrseg.data.random_contrast import RestyleConfig, restyle_images
from cmrseg.data.streams import PatchStream
from cmrseg.data.synthetic_pairs import SyntheticPairStream
from cmrseg.engine import train
from cmrseg.checkpoint import load_checkpoint, save_checkpoint
from cmrseg.engine.trainer import build_data
from cmrseg.errors import ConfigError
from cmrseg.losses.shape import one_hot
from cmrseg.methods.base import create_method
from cmrseg.models.translator import load_translator
from cmrseg.models.unet import UNet2D
from testkit import assert_resume_equals_uninterrupted, tiny_overrides

TRANSLATOR = ["model.name=label2image", "model.params={dim: 4, n_res: 1, mlp_dim: 16}", "method.name=label2image",
              "data.labelled=1", "optim.iterations=6", "train.val_every=3", "optim.betas=[0.5, 0.999]"]


def translator_overrides(root: Path, out: Path, name: str) -> list[str]:
    return [o for o in tiny_overrides(root, out, name) if not o.startswith("model.params")] + TRANSLATOR


@pytest.fixture(scope="module")
def translator_run(phantom_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("t2i")
    unet = out / "unet.pt"
    save_checkpoint(unet, UNet2D(features=(4, 8, 16)), {"model": {"name": "unet", "params": {"features": [4, 8, 16]}}})
    terms = ("[{loss: t2i_gan, stream: unlabelled}, {loss: t2i_image_recon, stream: unlabelled, weight: 10},"
             " {loss: t2i_cycle, stream: labelled, weight: 10},"
             " {loss: intensity_constraint, stream: labelled, start: 3},"
             " {loss: position_class, stream: labelled, weight: 0.5, start: 100}]")
    return train(load_config(None, translator_overrides(phantom_root, out, "t2i") + [
        f"method.params.feature_encoder={unet}", f"method.terms={terms}"]))


def test_translator_trains_in_the_engine_and_selects_on_its_own_validation(translator_run: Path) -> None:
    hist = pd.read_csv(translator_run / "history.csv")
    assert len(hist) == 2
    for col in ("loss/t2i_gan@unlabelled", "loss/t2i_gan_discriminator", "loss/t2i_image_recon@unlabelled",
                "loss/t2i_cycle@labelled", "loss/intensity_constraint@labelled", "loss/position_class@labelled",
                "loss/total", "val/cycle_dice_mean", "val/frechet", "val/frechet_score"):
        assert torch.isfinite(torch.tensor(hist[col].values)).all(), col
    assert "val/dice_mean" not in hist.columns  # no segmentation Dice for a translator
    assert (hist["val/frechet"] > 0).all()
    ck = load_checkpoint(translator_run / "checkpoints" / "best.pt")
    assert ck["best_metric"] == pytest.approx(hist["val/frechet_score"].max())  # selected on 1 / (1 + FD)
    t = load_translator(translator_run / "checkpoints" / "best.pt", "test")
    assert t.translate(torch.zeros(1, 4, 32, 32), t.sample_style(1)).shape == (1, 1, 32, 32)


def test_the_label_stream_gives_labels_only_and_term_switches_are_hard(phantom_root: Path, tmp_path: Path) -> None:
    method = create_method(MethodConfig(name="label2image"))
    labels = {"label": torch.zeros(2, 8, 8, dtype=torch.long), "image": torch.full((2, 1, 8, 8), 7.0),
              "valid": torch.ones(2, 1, 8, 8), "label_position": torch.zeros(2)}
    images = {"image": torch.ones(2, 1, 8, 8), "valid": torch.ones(2, 1, 8, 8)}
    joint = method.joint_batch({"labelled": labels, "unlabelled": images})
    assert set(joint) == {"label", "label_position", "image", "valid"} and bool((joint["image"] == 1).all())
    assert method.streams == {"labelled", "unlabelled"}
    starts = {t.loss: t.start for t in method.terms}
    assert starts["intensity_constraint"] == starts["position_class"] > 0 and starts["t2i_gan"] == 0
    with pytest.raises(ConfigError, match="must differ"):
        create_method(MethodConfig(name="label2image", params={"image_stream": "labelled"}))
    with pytest.raises(ConfigError, match="streams"):
        create_method(MethodConfig(name="label2image", terms=[TermConfig(loss="t2i_gan", stream="images")]))
    with pytest.raises(ConfigError, match="model.name: label2image"):
        train(load_config(None, tiny_overrides(phantom_root, tmp_path, "x") + ["method.name=label2image"]))


def _synthetic(root: Path, out: Path, ck: Path, name: str) -> list[str]:
    return tiny_overrides(root, out, name) + [
        "method.name=synthetic-unsupervised", "data.labelled=1", f"data.synthetic={{synthetic: {{translator: {ck}}}}}",
        "model.params.output=nested", "model.params.bias_head=true"]


def test_synthetic_pair_stream_translates_label_maps(translator_run: Path, phantom_root: Path, tmp_path: Path) -> None:
    cfg = load_config(None, _synthetic(phantom_root, tmp_path, translator_run / "checkpoints" / "best.pt", "s"))
    stream = build_data(cfg, create_method(cfg.method)).streams["synthetic"]
    assert isinstance(stream, SyntheticPairStream)
    state = copy.deepcopy(stream.rng.bit_generator.state)
    a = next(stream)
    assert a["image"].shape == (4, 1, 64, 64) and a["label"].shape == (4, 64, 64)
    assert torch.isfinite(a["image"]).all() and not a["image"].requires_grad
    assert set(a) >= {"valid", "slice_position", "label_position"}
    again = PatchStream(stream.labels.bank, 4, 64, cfg.data.foreground_p)  # replay: same crops, then the styles
    again.rng.bit_generator.state = state
    real = next(again)
    assert torch.equal(real["label"], a["label"]) and not torch.allclose(real["image"], a["image"])
    style = torch.from_numpy(again.rng.standard_normal((4, stream.painter.translator.style_dim)).astype("float32"))
    with torch.no_grad():
        want = stream.painter.translator.translate(one_hot(real["label"], 4), style)
    assert torch.allclose(a["image"], want, atol=1e-6)  # I_syn = translate(label map, its own random style)


def test_restyled_stream_randomises_the_translations_contrast(translator_run: Path, phantom_root: Path,
                                                               tmp_path: Path) -> None:
    ck = translator_run / "checkpoints" / "best.pt"
    cfg = load_config(None, _synthetic(phantom_root, tmp_path, ck, "r") + [
        f"data.synthetic={{synthetic: {{translator: {ck}, restyle: true, params: {{papillary: 2}}}}}}"])
    stream = build_data(cfg, create_method(cfg.method)).streams["synthetic"]
    assert stream.painter.restyle == RestyleConfig(papillary=2)
    state = copy.deepcopy(stream.rng.bit_generator.state)
    a = next(stream)
    again = PatchStream(stream.labels.bank, 4, 64, cfg.data.foreground_p)  # replay: crops, styles, then restyle
    again.rng.bit_generator.state = state
    real = next(again)
    style = torch.from_numpy(again.rng.standard_normal((4, stream.painter.translator.style_dim)).astype("float32"))
    with torch.no_grad():
        raw = stream.painter.translator.translate(one_hot(real["label"], 4), style)
    want = restyle_images(raw, real["label"], real["valid"], again.rng, RestyleConfig(papillary=2))
    assert torch.equal(a["image"], want) and not torch.allclose(a["image"], raw)


def test_unsupervised_synthetic_segmenter_trains_end_to_end(translator_run: Path, phantom_root: Path,
                                                             tmp_path: Path) -> None:
    ck = translator_run / "checkpoints" / "best.pt"
    hist = pd.read_csv(train(load_config(None, _synthetic(phantom_root, tmp_path, ck, "seg"))) / "history.csv")
    for col in ("loss/dice_ce@synthetic", "loss/ms_nested@unlabelled", "loss/augmentation_invariance@unlabelled",
                "loss/total", "val/dice_mean"):
        assert torch.isfinite(torch.tensor(hist[col].values)).all(), col
    with pytest.raises(ConfigError, match="data.synthetic"):
        train(load_config(None, tiny_overrides(phantom_root, tmp_path, "nosyn") + [
            "method.name=synthetic-unsupervised", "model.params.output=nested"]))


def test_resumed_translator_continues_against_the_same_discriminator(phantom_root: Path, tmp_path: Path) -> None:
    """Interrupted after one iteration and resumed = uninterrupted: the discriminator and its Adam moments travel
    in the checkpoint (a restarted discriminator would give other generator gradients, hence other weights)."""
    terms = "[{loss: t2i_gan, stream: unlabelled}, {loss: t2i_image_recon, stream: unlabelled, weight: 10}]"
    base = translator_overrides(phantom_root, tmp_path, "t") + [f"method.terms={terms}", "optim.iterations=3",
                                                                "train.val_every=100"]
    assert_resume_equals_uninterrupted(base)
    ck = load_checkpoint(tmp_path / "runs" / "part" / "checkpoints" / "last.pt")
    state = ck["networks"]["0:t2i_gan.discriminator"]
    assert set(state) == {"module", "optimizer"} and state["optimizer"]["state"]  # Adam moments saved
