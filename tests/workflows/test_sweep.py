"""cmrseg sweep: every (config, budget, seed) run trained once, scored on val / selection / another set,
tabulated as mean +- sd over seeds, plotted; a second call reuses the finished runs."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from cmrseg.cli.main import app, spread_multi_values
from cmrseg.errors import ConfigError
from cmrseg.workflows.sweep import EvalSet, SweepSpec, run_sweep, summarise
from testkit import tiny_overrides


def _spec(root: Path, out: Path, config: Path) -> SweepSpec:
    overrides = [o for o in tiny_overrides(root, out) if not o.startswith(("train.out_dir", "train.name"))]
    return SweepSpec([str(config)], [1, 2], [0, 1], out / "sweep", overrides + ["data.selection=1",
                                                                                 "optim.iterations=2"],
                     [EvalSet("again", str(root), "val")], jobs=1)


def test_sweep_trains_scores_tabulates_and_reuses(phantom_root: Path, tmp_path: Path, one_thread: None) -> None:
    config = tmp_path / "sup.yaml"
    config.write_text("method: {name: supervised}\n", encoding="utf-8")
    spec = _spec(phantom_root, tmp_path, config)
    runs = run_sweep(spec)
    assert len(runs) == 4 and set(runs["labelled"]) == {1, 2} and set(runs["seed"]) == {0, 1}
    for col in ("val_dice_mean", "val_hd95_mean", "sel_dice_mean", "again_dice_mean", "train_min"):
        assert runs[col].notna().all(), col
    # the extra set is the val split again: the same scores as val
    assert (runs["again_dice_mean"] - runs["val_dice_mean"]).abs().max() < 1e-9
    table = pd.read_csv(spec.out_dir / "table.csv")
    assert list(table["seeds"]) == [2, 2]
    first = runs[runs["labelled"] == 1]["val_dice_mean"]
    assert table.loc[table["labelled"] == 1, "val_dice_mean"].item() == pytest.approx(first.mean(), abs=1e-4)
    md = (spec.out_dir / "table.md").read_text(encoding="utf-8")
    assert "**val mean Dice**" in md and "again" in md and "+-" in md
    assert (spec.out_dir / "dice_vs_labelled.png").stat().st_size > 1000
    history = spec.out_dir / "sup_l1_s0" / "history.csv"
    before = history.read_text(encoding="utf-8")
    run_sweep(spec)  # finished runs are kept: nothing trains again
    assert history.read_text(encoding="utf-8") == before


def test_summary_gives_mean_and_sample_sd_over_seeds() -> None:
    rows = pd.DataFrame({"config": ["a"] * 3, "labelled": [3] * 3, "seed": [0, 1, 2], "run": list("xyz"),
                         "val_dice_mean": [0.7, 0.8, 0.9]})
    s = summarise(rows)
    assert s["val_dice_mean"].item() == pytest.approx(0.8) and s["val_dice_mean_sd"].item() == pytest.approx(0.1)


def test_eval_sets_and_multi_values_parse() -> None:
    assert EvalSet.parse("lge=../data/mscmr:val") == EvalSet("lge", "../data/mscmr", "val")
    with pytest.raises(ConfigError, match="NAME=ROOT"):
        EvalSet.parse("lge")
    with pytest.raises(ConfigError, match="taken"):
        EvalSet.parse("selection=x")
    assert spread_multi_values(["sweep", "a.yaml", "--labelled", "1", "3", "--seeds", "0", "1", "--jobs", "2"]) == [
        "sweep", "a.yaml", "--labelled", "1", "--labelled", "3", "--seeds", "0", "--seeds", "1", "--jobs", "2"]


def test_sweep_refuses_a_missing_config(tmp_path: Path) -> None:
    res = CliRunner().invoke(app, ["sweep", str(tmp_path / "nope.yaml"), "--out", str(tmp_path)])
    assert res.exit_code == 2 and "does not exist" in res.output
