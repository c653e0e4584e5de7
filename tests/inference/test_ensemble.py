"""Ensembles of checkpoints end to end: Predictor, predict and evaluate average the members' probabilities."""

from __future__ import annotations

import copy
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from typer.testing import CliRunner

from cmrseg.cli.main import app
from cmrseg.config import load_config
from cmrseg.engine import train
from cmrseg.checkpoint import load_checkpoint, save_checkpoint
from cmrseg.models.pretrained import model_from_checkpoint
from cmrseg.errors import InputError
from cmrseg.inference import Predictor
from testkit import tiny_overrides


@pytest.fixture(scope="module")
def two_checkpoints(phantom_root: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    out = tmp_path_factory.mktemp("ens")
    return [train(load_config(None, tiny_overrides(phantom_root, out, f"s{s}") + [f"train.seed={s}"]))
            / "checkpoints" / "best.pt" for s in (0, 1)]


def test_ensemble_of_one_model_twice_predicts_what_the_model_predicts(two_checkpoints: list[Path],
                                                                      phantom_root: Path, tmp_path: Path) -> None:
    src = phantom_root / "patient004" / "patient004_frame01.nii.gz"
    ck = str(two_checkpoints[0])
    runner = CliRunner()
    for name, cks in (("one", [ck]), ("twice", [ck, ck])):
        args = ["predict", str(src), "-o", str(tmp_path / f"{name}.nii.gz")]
        for c in cks:
            args += ["-c", c]
        res = runner.invoke(app, args)
        assert res.exit_code == 0, res.output
    one, twice = (np.asarray(nib.load(tmp_path / f"{n}.nii.gz").dataobj) for n in ("one", "twice"))
    assert np.array_equal(one, twice)


def test_ensemble_of_two_seeds_averages_their_probabilities(two_checkpoints: list[Path], phantom_root: Path) -> None:
    from cmrseg.io import read_volume

    case = read_volume(phantom_root / "patient004" / "patient004_frame01.nii.gz")
    single = [Predictor.from_checkpoint(c).predict_case(case, return_probabilities=True).probabilities
              for c in two_checkpoints]
    ens = Predictor.from_checkpoint(two_checkpoints).predict_case(case, return_probabilities=True).probabilities
    assert not np.allclose(single[0], single[1], atol=1e-3)  # the seeds differ, so the test can fail
    np.testing.assert_allclose(ens, (single[0] + single[1]) / 2, atol=1e-5)


def test_members_that_preprocess_differently_are_refused(two_checkpoints: list[Path], tmp_path: Path) -> None:
    ck = load_checkpoint(two_checkpoints[1])
    cfg = copy.deepcopy(ck["config"])
    cfg["data"]["preprocess"]["fov_px"] = 128
    other = tmp_path / "other.pt"
    save_checkpoint(other, model_from_checkpoint(ck), cfg)
    with pytest.raises(InputError, match="preprocesses differently") as err:
        Predictor.from_checkpoint([two_checkpoints[0], other])
    assert err.value.path == other


def test_evaluate_names_the_ensemble_in_its_protocol(two_checkpoints: list[Path], phantom_root: Path,
                                                     tmp_path: Path) -> None:
    res = CliRunner().invoke(app, ["evaluate", "-c", str(two_checkpoints[0]), "-c", str(two_checkpoints[1]),
                                   "--data", str(phantom_root), "--split", "val", "--out", str(tmp_path / "o")])
    assert res.exit_code == 0, res.output
    summary = (tmp_path / "o" / "eval" / "summary.json").read_text()
    assert "ensemble (mean probabilities) of 2 checkpoints" in summary
