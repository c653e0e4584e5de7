"""The benchmark scripts that compare arms over seeds declare a sweep (cmrseg.workflows.sweep) and own no training
loop: each parses its options and builds its spec, and every planned run's config loads with its overrides."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Iterator

import pytest

from cmrseg.workflows.sweep import SweepSpec, plan_runs

ROOT = Path(__file__).resolve().parents[1]
CASES = {  # script -> (argv, expected run folders)
    "acdc_supervised": ([], ["supervised_70_s0", "supervised_7_s0"]),
    "compare_configs": (["configs/acdc/supervised_3.yaml", "configs/acdc/ms_semi_3.yaml", "--seeds", "0", "1"],
                        ["supervised_3_s0", "supervised_3_s1", "ms_semi_3_s0", "ms_semi_3_s1"]),
    "prior_weights": (["--weights", "0.82", "8.2", "--baseline", "unet", "--labelled", "3"],
                      ["unet_l3_s0", "srscn_shape_recon0.82_l3_s0", "srscn_shape_recon8.2_l3_s0"]),
    "shape_priors": (["--methods", "unet", "srscn", "--labelled", "3", "7", "--iterations", "2000"],
                     ["shape_unet_i2000_l3_s0", "shape_unet_i2000_l7_s0", "shape_srscn_i2000_l3_s0",
                      "shape_srscn_i2000_l7_s0"]),
    "self_training": ([], ["supervised_7_finetune_s0", "acdc_st7_nocrf_s0", "acdc_st7_crf_s0"]),
    "propagation_training": (["--seeds", "0", "2"], ["acdc_ed_only_l7_s0", "acdc_ed_only_l7_s2",
                                                     "acdc_ed_propagated_l7_s0", "acdc_ed_propagated_l7_s2"]),
}


@pytest.fixture
def benchmarks(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The scripts importable as they import each other (``from common import ...``), from the repository root;
    forgotten afterwards, so no other test sees their top-level module names."""
    monkeypatch.chdir(ROOT)  # configs are named relative to the repository
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    before = set(sys.modules)
    yield
    for name in set(sys.modules) - before:
        if str(getattr(sys.modules[name], "__file__", "") or "").startswith(str(ROOT / "benchmarks")):
            del sys.modules[name]


def _plan(script: str, argv: list[str], tmp_path: Path, build: str = "build_spec") -> tuple[SweepSpec, list[str]]:
    mod = importlib.import_module(script)
    spec = getattr(mod, build)(mod.parse_args([*argv, "--sweep-dir", str(tmp_path)]))
    return spec, list(plan_runs(spec)["run"])


@pytest.mark.parametrize("script", list(CASES))
def test_each_benchmark_builds_its_sweep(script: str, benchmarks: None, tmp_path: Path) -> None:
    argv, runs = CASES[script]
    spec, planned = _plan(script, argv, tmp_path)
    assert planned == runs and spec.out_dir == tmp_path and not list(tmp_path.iterdir())


def test_benchmark_arms_carry_their_own_overrides(benchmarks: None, tmp_path: Path) -> None:
    spec, _ = _plan("prior_weights", ["--weights", "2.6", "--lge", "lge_root"], tmp_path)
    (arm,) = spec.arms()
    assert '"loss": "shape_recon", "stream": "labelled", "weight": 2.6' in arm.overrides[0]
    assert "data.selection=10" in spec.overrides and [e.name for e in spec.eval_sets] == ["lge"]
    spec, _ = _plan("self_training", ["--runs", "st:crf=false,rounds=2"], tmp_path)
    assert spec.arms()[1].overrides == ("method.params.crf=false", "method.params.rounds=2")


def test_unsupervised_synthetic_stages_build_their_sweeps(benchmarks: None, tmp_path: Path) -> None:
    spec, runs = _plan("unsupervised_synthetic", ["translators", "--only", "vanilla", "+IC+SC"], tmp_path,
                       "translator_spec")
    assert runs == ["t2i_vanilla_s0", "t2i_ic_sc_s0"] and not spec.evaluate
    spec, runs = _plan("unsupervised_synthetic", ["ablation", "--only", "full", "MS* + synthetic", "--seeds", "0",
                                                  "1"], tmp_path, "ablation_spec")
    assert runs == ["unsup_full_s0", "unsup_full_s1", "unsup_ms_synthetic_s0", "unsup_ms_synthetic_s1"]
    assert spec.evaluate and [e.name for e in spec.eval_sets] == ["lge"]
