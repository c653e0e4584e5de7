"""Checkpoints written before the engine owned the auxiliary networks still load and resume."""

from __future__ import annotations

from pathlib import Path

import torch

from cmrseg.checkpoint import load_checkpoint, upgrade
from cmrseg.config import load_config
from cmrseg.engine import train
from testkit import tiny_overrides

ADV_TERMS = ("method.terms=[{loss: dice_ce, stream: labelled}, {loss: shape_adversarial, stream: labelled, "
             "weight: 0.01, params: {features: [4, 8], lr: 0.01}}]")


def _to_old_layout(path: Path) -> None:
    """Rewrite a checkpoint as the loss-owned-discriminator versions did: ``loss_states`` instead of ``networks``."""
    ck = torch.load(path, map_location="cpu", weights_only=True)
    nets = ck.pop("networks")
    ck["loss_states"] = {key.rsplit(".", 1)[0]: {"discriminator": s["module"], "optimizer": s["optimizer"]}
                         for key, s in nets.items()}
    torch.save(ck, path)


def test_upgrade_maps_loss_states_to_networks() -> None:
    old = {"loss_states": {"1:shape_adversarial": {"discriminator": {"w": 1}, "optimizer": {"state": {}}}}}
    assert upgrade(old) == {"networks": {"1:shape_adversarial.discriminator": {"module": {"w": 1},
                                                                               "optimizer": {"state": {}}}}}


def test_an_old_adversarial_checkpoint_resumes_as_if_never_interrupted(phantom_root: Path, tmp_path: Path) -> None:
    base = tiny_overrides(phantom_root, tmp_path, "x") + ["method.name=shape-adversarial", ADV_TERMS,
                                                          "optim.iterations=3", "train.val_every=100"]
    full = train(load_config(None, base + ["train.name=full"]))
    train(load_config(None, base + ["train.name=part", "train.max_minutes=0"]))  # stops after 1 iteration
    last = tmp_path / "runs" / "part" / "checkpoints" / "last.pt"
    _to_old_layout(last)
    assert "loss_states" in torch.load(last, weights_only=True)
    part = train(load_config(None, base + ["train.name=part"]), resume=True)
    a, b = (load_checkpoint(r / "checkpoints" / "last.pt") for r in (full, part))
    for k in a["model_state"]:
        assert torch.allclose(a["model_state"][k].float(), b["model_state"][k].float(), atol=1e-5), k
    key = "1:shape_adversarial.discriminator"
    for k, v in a["networks"][key]["module"].items():  # the restored discriminator went on training
        assert torch.allclose(v, b["networks"][key]["module"][k], atol=1e-5), k
