"""Prediction end to end: output aligned with the input (shape, affine), DICOM and folder inputs, CLI."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from cmrseg.cli.main import app
from cmrseg.config import load_config
from cmrseg.engine import train
from testkit import tiny_overrides


@pytest.fixture(scope="module")
def checkpoint(phantom_root, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ckpt")
    return train(load_config(None, tiny_overrides(phantom_root, out, "pred"))) / "checkpoints" / "best.pt"


def test_predict_file_is_aligned_with_input(checkpoint, phantom_root, tmp_path) -> None:
    src = phantom_root / "patient004" / "patient004_frame01.nii.gz"
    res = CliRunner().invoke(app, ["predict", str(src), "-o", str(tmp_path / "p.nii.gz"), "-c", str(checkpoint)])
    assert res.exit_code == 0, res.output
    a, b = nib.load(src), nib.load(tmp_path / "p.nii.gz")
    assert a.shape == b.shape
    assert np.allclose(a.affine, b.affine)
    assert set(np.unique(np.asarray(b.dataobj))) <= {0, 1, 2, 3}


def test_predict_folder_then_evaluate(checkpoint, phantom_root, tmp_path) -> None:
    runner = CliRunner()
    res = runner.invoke(app, ["predict", str(phantom_root / "patient004"), "-o", str(tmp_path / "pred"),
                              "-c", str(checkpoint)])
    assert res.exit_code == 0, res.output
    written = sorted(p.name for p in (tmp_path / "pred").iterdir())
    frames = sorted(p.name.replace("_gt", "") for p in (phantom_root / "patient004").glob("*_gt.nii.gz"))
    assert written == frames
    res = runner.invoke(app, ["evaluate", "--pred", str(tmp_path / "pred"), "--gt", str(phantom_root / "patient004"),
                              "--out", str(tmp_path / "eval")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "eval" / "per_case.csv").exists() and (tmp_path / "eval" / "clinical.csv").exists()


def test_predict_dicom_series(checkpoint, tmp_path) -> None:
    import SimpleITK as sitk

    from cmrseg.data.phantom import make_phantom_case

    case = make_phantom_case(3, shape=(6, 120, 120), spacing=(8.0, 1.6, 1.6))
    img = sitk.GetImageFromArray((case.image * 1000).astype(np.int16))
    img.SetSpacing((1.6, 1.6, 8.0))
    folder = tmp_path / "dicom"
    folder.mkdir()
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    for z in range(img.GetDepth()):
        sl = img[:, :, z]
        for tag, value in {"0020|000e": "1.2.3.4", "0020|0032": f"0\\0\\{8.0 * z}", "0020|0037": "1\\0\\0\\0\\1\\0",
                           "0028|0030": "1.6\\1.6", "0020|0013": str(z + 1), "0008|0060": "MR",
                           "0008|0018": f"1.2.3.4.{z + 1}", "0018|0050": "8"}.items():
            sl.SetMetaData(tag, value)
        writer.SetFileName(str(folder / f"IM{z:03d}.dcm"))
        writer.Execute(sl)
    res = CliRunner().invoke(app, ["predict", str(folder), "-o", str(tmp_path / "seg.nii.gz"), "-c", str(checkpoint)])
    assert res.exit_code == 0, res.output
    out = nib.load(tmp_path / "seg.nii.gz")
    assert out.shape == (120, 120, 6)
    assert np.allclose(out.header.get_zooms()[:3], (1.6, 1.6, 8.0), atol=1e-4)


def test_bad_input_exits_with_specific_message(checkpoint, tmp_path) -> None:
    bad = tmp_path / "broken.nii.gz"
    bad.write_bytes(b"\x1f\x8b\x08\x00garbage")
    res = CliRunner().invoke(app, ["predict", str(bad), "-o", str(tmp_path / "o.nii.gz"), "-c", str(checkpoint)])
    assert res.exit_code == 2
    assert "broken.nii.gz" in res.output and "corrupt" in res.output
    assert not (tmp_path / "o.nii.gz").exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    res = CliRunner().invoke(app, ["predict", str(empty), "-o", str(tmp_path / "o"), "-c", str(checkpoint)])
    assert res.exit_code == 2 and "empty" in res.output


def test_missing_checkpoint_is_named(phantom_root, tmp_path) -> None:
    src = phantom_root / "patient004" / "patient004_frame01.nii.gz"
    res = CliRunner().invoke(app, ["predict", str(src), "-o", str(tmp_path / "o"), "-c", str(tmp_path / "x.pt")])
    assert res.exit_code == 2 and "x.pt" in res.output and "does not exist" in res.output


def test_bias_field_is_saved_on_the_input_grid(phantom_root, tmp_path) -> None:
    from cmrseg.config import Config
    from cmrseg.checkpoint import save_checkpoint
    from cmrseg.models.registry import ModelConfig, create_model

    cfg = Config.model_validate({"model": {"name": "unet", "params": {"features": [4, 8], "bias_head": True}},
                                 "data": {"preprocess": {"fov_px": 96, "target_spacing": 2.5}}})
    model = create_model(ModelConfig.model_validate(cfg.model.model_dump()))
    save_checkpoint(tmp_path / "b.pt", model, cfg.model_dump(mode="json"))
    src = phantom_root / "patient004" / "patient004_frame01.nii.gz"
    res = CliRunner().invoke(app, ["predict", str(src), "-o", str(tmp_path / "s.nii.gz"), "-c", str(tmp_path / "b.pt"),
                                   "--save-bias"])
    assert res.exit_code == 0, res.output
    bias = nib.load(tmp_path / "s_bias.nii.gz")
    assert bias.shape == nib.load(src).shape
    b = np.asarray(bias.dataobj)
    assert np.allclose(b, 1.0, atol=1e-5)  # an untrained bias head starts at b = 1 (zero-initialised)


def test_evaluate_checkpoint_on_a_dataset_matches_predict_then_evaluate(checkpoint, phantom_root, tmp_path) -> None:
    """`evaluate -c --data --split` (the cross-domain route) scores exactly what predict + evaluate score."""
    runner = CliRunner()
    res = runner.invoke(app, ["evaluate", "-c", str(checkpoint), "--data", str(phantom_root), "--split", "val",
                              "--out", str(tmp_path / "direct")])
    assert res.exit_code == 0, res.output
    direct = pd.read_csv(tmp_path / "direct" / "eval" / "per_case.csv")
    assert set(direct["patient"]) == {"patient004"}  # the phantom's only val patient
    assert len(list((tmp_path / "direct" / "predictions").glob("*.nii.gz"))) == 2  # its ED and ES volumes
    runner.invoke(app, ["predict", str(phantom_root / "patient004"), "-o", str(tmp_path / "pred"),
                        "-c", str(checkpoint)])
    res = runner.invoke(app, ["evaluate", "--pred", str(tmp_path / "pred"), "--gt", str(phantom_root / "patient004"),
                              "--out", str(tmp_path / "folders")])
    assert res.exit_code == 0, res.output
    folders = pd.read_csv(tmp_path / "folders" / "per_case.csv")
    key = ["case_id", "structure"]
    merged = direct.merge(folders, on=key, suffixes=("_d", "_f"))
    assert len(merged) == len(direct) == 6
    np.testing.assert_allclose(merged["dice_d"], merged["dice_f"], atol=1e-9)
    np.testing.assert_allclose(merged["hd95_mm_d"], merged["hd95_mm_f"], atol=1e-6)


@pytest.mark.parametrize("args, message", [
    (["--data", "X"], "give either --pred and --gt, or --checkpoint, --data and --out"),
    (["--pred", "a"], "give either --pred and --gt, or --checkpoint, --data and --out"),
    (["--pred", "a", "--gt", "b", "-c", "c"], "give either --pred and --gt, or --checkpoint, --data and --out"),
])
def test_evaluate_refuses_mixed_or_incomplete_arguments(args, message) -> None:
    res = CliRunner().invoke(app, ["evaluate", *args])
    assert res.exit_code == 2 and message in res.output


def test_evaluate_checkpoint_names_an_empty_split(checkpoint, phantom_root, tmp_path) -> None:
    res = CliRunner().invoke(app, ["evaluate", "-c", str(checkpoint), "--data", str(phantom_root), "--split", "test",
                                   "--out", str(tmp_path / "o")])
    assert res.exit_code == 2
    assert "no labelled case in split 'test'" in res.output and "['train', 'val']" in res.output


def test_evaluate_checkpoint_keeps_only_the_named_patients(checkpoint, phantom_root, tmp_path) -> None:
    """--patient selects held-out training patients (e.g. to choose a loss weight without touching val)."""
    res = CliRunner().invoke(app, ["evaluate", "-c", str(checkpoint), "--data", str(phantom_root), "--split", "train",
                                   "--patient", "patient001", "--patient", "patient003", "--out", str(tmp_path / "o")])
    assert res.exit_code == 0, res.output
    scored = pd.read_csv(tmp_path / "o" / "eval" / "per_case.csv")
    assert set(scored["patient"]) == {"patient001", "patient003"} and len(scored) == 2 * 2 * 3  # ED+ES x 3 structures


def test_evaluate_checkpoint_names_patients_missing_from_the_split(checkpoint, phantom_root, tmp_path) -> None:
    res = CliRunner().invoke(app, ["evaluate", "-c", str(checkpoint), "--data", str(phantom_root), "--split", "train",
                                   "--patient", "patient004", "--out", str(tmp_path / "o")])
    assert res.exit_code == 2
    assert "patients ['patient004'] have no labelled case in split 'train'" in res.output


def test_rv_rule_gets_the_input_grids_spacing(monkeypatch) -> None:
    """The RV and LV rules measure millimetres on the label map's own grid: the input spacing, not the network's."""
    import torch

    from cmrseg.data.preprocess import Geometry, PreprocessConfig, Preprocessed
    from cmrseg.inference import predictor as mod
    from cmrseg.postprocess.config import PostprocessConfig

    seen = {}
    monkeypatch.setattr(mod, "postprocess_label", lambda raw, **kw: seen.update(kw) or raw)
    p = mod.Predictor(torch.nn.Identity(), PreprocessConfig(),
                      post=PostprocessConfig(rv_within_mm=10.0, lv_enclosed=True))
    # a 2 x 40 x 40 input at 1.5 mm resampled to 20 x 20 px (3 mm) and placed on a 20 px canvas
    pre = Preprocessed(np.zeros((2, 20, 20), np.float32), None, Geometry((40, 40), (20, 20), (0, 0)), (8.0, 3.0, 3.0))
    probs = torch.zeros(2, 4, 20, 20)
    probs[:, 0] = 1.0
    label = p.finish({"probs": probs}, pre).label
    assert label.shape == (2, 40, 40)
    assert seen["rv_within_mm"] == 10.0 and seen["spacing_yx"] == pytest.approx((1.5, 1.5))
    assert seen["lv_enclosed"] is True
