"""Commands that used to write something on bad input, or a page with nothing in it, now refuse first."""

from __future__ import annotations

import os
from pathlib import Path

from typer.testing import CliRunner

from cmrseg.cli.main import app


def test_train_without_a_config_refuses_and_writes_nothing(tmp_path: Path) -> None:
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        res = CliRunner().invoke(app, ["train"])
    finally:
        os.chdir(cwd)
    assert res.exit_code == 2 and "config" in res.output.lower()
    assert not (tmp_path / "runs").exists()


def test_run_with_a_bad_config_writes_no_phantom(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("optim: {lrr: 1}\n", encoding="utf-8")
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        res = CliRunner().invoke(app, ["run", str(bad)])
    finally:
        os.chdir(cwd)
    assert res.exit_code == 2 and "lrr" in res.output
    assert not (tmp_path / ".cache").exists() and not (tmp_path / "runs").exists()


def test_report_refuses_a_folder_with_nothing_to_report(tmp_path: Path) -> None:
    res = CliRunner().invoke(app, ["report", str(tmp_path)])
    assert res.exit_code == 2 and "neither a run folder" in res.output
    assert not (tmp_path / "report.html").exists()


def test_report_on_an_evaluate_output_shows_its_tables_and_timing(tmp_path: Path) -> None:
    import json

    summary = {"structures": {k: {"n": 2, "dice_mean": 0.9, "dice_std": 0.01, "hd95_mm_mean": 3.0,
                                  "assd_mm_mean": 1.0, "n_missed": 0, "n_false_positive": 0}
                              for k in ("LV", "Myo", "RV", "mean")},
               "protocol": "test protocol", "timing_s_per_volume": {"network": 0.25, "end_to_end": 0.4}}
    (tmp_path / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    res = CliRunner().invoke(app, ["report", str(tmp_path), "--max-cases", "0"])
    assert res.exit_code == 0, res.output
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "test protocol" in page and "Segmentation summary" in page and "0.900" in page
    assert "Inference time per volume" in page and "end_to_end" in page and '"network"' not in page
