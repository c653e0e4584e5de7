"""cmrseg sweep: every (arm, budget, seed) run trained once, scored on val / selection / another set,
tabulated as mean +- sd over seeds, plotted; a second call reuses the finished runs. Arms (a config with its own
overrides and name) reach their run's config, under distinct run folders, in the declared order."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from cmrseg.cli.main import app, spread_multi_values
from cmrseg.errors import ConfigError
from cmrseg.workflows.sweep import Arm, EvalSet, SweepSpec, plan_runs, run_sweep, summarise
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


def _tiny(root: Path, out: Path) -> list[str]:
    return [o for o in tiny_overrides(root, out) if not o.startswith(("train.out_dir", "train.name"))]


def test_arm_overrides_reach_their_runs_under_distinct_names(phantom_root: Path, tmp_path: Path,
                                                             one_thread: None) -> None:
    config = tmp_path / "sup.yaml"
    config.write_text("method: {name: supervised}\ndata: {labelled: 2}\n", encoding="utf-8")
    arms = [Arm(str(config), ("optim.iterations=3",), "three steps"), Arm(str(config), ("optim.iterations=2",))]
    # sweep-wide iterations=4 (tiny_overrides) is replaced by each arm's own; budget None keeps labelled: 2
    spec = SweepSpec(arms, [None], [0], tmp_path / "sweep", _tiny(phantom_root, tmp_path), jobs=1, evaluate=False)
    runs = run_sweep(spec)
    assert list(runs["run"]) == ["three_steps_s0", "sup_s0"]  # declared order, not alphabetical
    assert list(runs["config"]) == ["three steps", "sup"] and list(runs["labelled"]) == [2, 2]
    assert list(runs["iterations"]) == [3, 2]
    for run, iters in (("three_steps_s0", 3), ("sup_s0", 2)):
        saved = (spec.out_dir / run / "config.yaml").read_text(encoding="utf-8")
        assert f"iterations: {iters}" in saved and "labelled: 2" in saved
    assert "val_dice_mean" not in runs  # train only: no scores, no figure
    assert "val" not in (spec.out_dir / "table.md").read_text(encoding="utf-8")
    assert not (spec.out_dir / "dice_vs_labelled.png").exists()
    assert list(pd.read_csv(spec.out_dir / "table.csv")["config"]) == ["three steps", "sup"]


def test_plan_lists_runs_checks_configs_and_refuses_collisions(phantom_root: Path, tmp_path: Path) -> None:
    config = tmp_path / "sup.yaml"
    config.write_text("method: {name: supervised}\n", encoding="utf-8")
    spec = SweepSpec([Arm(str(config), ("optim.iterations=7",), "A + b"), str(config)], [1, None], [0, 2],
                     tmp_path / "sweep", _tiny(phantom_root, tmp_path))
    plan = plan_runs(spec)
    assert list(plan["run"]) == ["A_b_l1_s0", "A_b_l1_s2", "A_b_s0", "A_b_s2",
                                 "sup_l1_s0", "sup_l1_s2", "sup_s0", "sup_s2"]
    assert list(plan["overrides"][:1]) == ["optim.iterations=7"] and plan["overrides"].iloc[-1] == ""
    assert not (tmp_path / "sweep").exists()  # planning trains and writes nothing
    with pytest.raises(ConfigError, match="share a name"):
        plan_runs(SweepSpec([str(config), Arm(str(config), ("optim.iterations=2",))], [1], [0], tmp_path))
    with pytest.raises(ConfigError, match="share a run folder key"):
        plan_runs(SweepSpec([Arm(str(config), name="a b"), Arm(str(config), name="a_b")], [1], [0], tmp_path))
    with pytest.raises(ConfigError):  # a typo in an arm's override fails before anything trains
        plan_runs(SweepSpec([Arm(str(config), ("optim.iteratoins=2",))], [1], [0], tmp_path))


def test_sweep_dry_run_trains_nothing(tmp_path: Path) -> None:
    config = tmp_path / "sup.yaml"
    config.write_text("method: {name: supervised}\n", encoding="utf-8")
    res = CliRunner().invoke(app, ["sweep", str(config), "--labelled", "3", "--seeds", "1", "--out",
                                   str(tmp_path / "sweep"), "--dry-run"])
    assert res.exit_code == 0 and "sup_l3_s1" in res.output and not (tmp_path / "sweep").exists()


def test_finished_only_tabulates_done_runs_and_trains_nothing(phantom_root: Path, tmp_path: Path,
                                                              one_thread: None) -> None:
    config = tmp_path / "sup.yaml"
    config.write_text("method: {name: supervised}\n", encoding="utf-8")
    spec = _spec(phantom_root, tmp_path, config)
    spec.labelled, spec.seeds, spec.eval_sets = [1], [0], []
    run_sweep(spec)  # one finished run
    spec.seeds, spec.finished_only = [0, 1], True
    runs = run_sweep(spec)
    assert list(runs["run"]) == ["sup_l1_s0"]
    assert not (spec.out_dir / "sup_l1_s1").exists()  # the unfinished run was not started
    spec.labelled = [2]
    with pytest.raises(ConfigError, match="none of the 2 runs is finished"):
        run_sweep(spec)


def test_explicit_jobs_keep_their_threads_when_fewer_runs_are_left(monkeypatch: pytest.MonkeyPatch,
                                                                   tmp_path: Path) -> None:
    from cmrseg.workflows.sweep import _workers

    monkeypatch.setattr("os.cpu_count", lambda: 4)
    one_run = SweepSpec(["a.yaml"], [3], [0], tmp_path, jobs=2)
    assert _workers(one_run) == (1, 2)  # asked for 2 jobs on 4 cores: 2 threads, 2 cores left free
    one_run.jobs = 0
    assert _workers(one_run) == (1, 4)  # automatic: the one run takes every core
    many = SweepSpec(["a.yaml"], [1, 3, 7], [0, 1, 2], tmp_path, jobs=0)
    assert _workers(many) == (4, 1)
