"""Self-training rounds: pseudo-labels written, scored and used as a stream; resume; masked loss."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
import torch

from cmrseg.config import load_config
from cmrseg.engine import train as engine_train
from cmrseg.workflows import fit as train
from cmrseg.errors import ConfigError
from cmrseg.losses.supervised import DiceCE, MaskedDiceCE
from testkit import tiny_overrides


def test_masked_dice_ce_equals_dice_ce_without_mask_and_ignores_masked_pixels() -> None:
    torch.manual_seed(0)
    logits, label = torch.randn(3, 4, 12, 12), torch.randint(0, 4, (3, 12, 12))
    a = MaskedDiceCE()({"logits": logits}, {"label": label})
    assert torch.allclose(a, DiceCE()({"logits": logits}, {"label": label}), atol=1e-5)
    masked = label.clone()
    masked[:, :6] = 4
    changed = logits.clone()
    changed[:, :, :6] = torch.randn(3, 4, 6, 12) * 10  # masked pixels must not matter
    b1 = MaskedDiceCE()({"logits": logits}, {"label": masked})
    b2 = MaskedDiceCE()({"logits": changed}, {"label": masked})
    assert torch.allclose(b1, b2, atol=1e-6)


def test_self_training_rounds_write_scored_pseudo_labels_and_resume(phantom_root: Path, tmp_path: Path) -> None:
    ov = tiny_overrides(phantom_root, tmp_path, "st") + [
        "data.labelled=1", "method.name=self-training", "method.params={rounds: 2, crf: false, confidence: 0.6}",
        "method.params.round_iterations=2"]
    run = train(load_config(None, ov))
    rounds = pd.read_csv(run / "rounds.csv")
    assert list(rounds["round"]) == [0, 1, 2]
    for r in (1, 2):
        pseudo = sorted((run / f"round{r}" / "pseudo").glob("*.nii.gz"))
        assert len(pseudo) == 4  # 2 unlabelled patients x ED/ES
        lab = np.asarray(nib.load(pseudo[0]).dataobj)
        assert set(np.unique(lab)) <= {0, 1, 2, 3, 4}
        q = pd.read_csv(run / f"round{r}" / "pseudo_quality.csv")
        assert {"dice_LV", "dice_Myo", "dice_RV", "kept"} <= set(q.columns)
        assert ((q["kept"] > 0) & (q["kept"] <= 1)).all()
        assert (run / f"round{r}" / "history.csv").exists()
    assert (run / "checkpoints" / "best.pt").exists()
    mtime = (run / "round1" / "pseudo_quality.csv").stat().st_mtime
    train(load_config(None, ov), resume=True)  # finished rounds are kept, not recomputed
    assert (run / "round1" / "pseudo_quality.csv").stat().st_mtime == mtime


def test_extra_labels_folder_must_exist(phantom_root: Path, tmp_path: Path) -> None:
    ov = tiny_overrides(phantom_root, tmp_path, "x") + [
        "data.labelled=1", "method.name=self-training",
        f"data.extra_labels={{pseudo: {{labels_dir: {tmp_path / 'nope'}}}}}"]
    with pytest.raises(ConfigError, match="does not exist"):
        engine_train(load_config(None, ov))  # one round's run, as the workflow starts it
