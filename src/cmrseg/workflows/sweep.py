"""Sweeps: arms (a config plus overrides) trained at several label budgets and seeds, evaluated, tabulated, plotted.

``cmrseg sweep RECIPE --labelled 1 3 7 --seeds 0 1 2 [--baseline supervised.yaml]`` trains every
(arm, budget, seed) run with :func:`cmrseg.workflows.fit` (one engine run, or the rounds of self-training),
resumably (a finished run has ``DONE``; an interrupted one continues from ``last.pt``), as many at once as
``--jobs`` (threads per job = cores / jobs, so the machine is never oversubscribed). Each run's ``best.pt`` is
then scored on ACDC val, on the selection set that chose it (``data.selection``) and on any other labelled set
given (``--eval NAME=ROOT[:SPLIT]``, e.g. MS-CMRSeg LGE val). Outputs under ``runs/sweep/<name>/``: ``runs.csv``
(one row per run), ``table.csv`` / ``table.md`` (mean +- sd over seeds per arm and budget) and
``dice_vs_labelled.png``.

From Python, benchmarks declare their arms (:class:`Arm`: a config, its own overrides, a display name) and
call :func:`run_sweep`; a budget of ``None`` keeps the config's own ``data.labelled``::

    run_sweep(SweepSpec([Arm("configs/acdc/srscn_7.yaml", ("optim.iterations=2000",), "SRSCN"),
                         "configs/acdc/supervised_7.yaml"], [None], [0, 1, 2], Path("runs/sweep/priors")))

Layout of one run: ``<out>/<arm key>[_l<N>]_s<seed>/`` (an ordinary engine run folder; the key is the config
stem for a plain config), with ``eval/`` (val), ``selection/eval/`` and ``<set name>/eval/``, each holding the
evaluation's ``summary.json``.
"""

from __future__ import annotations

import json
import os
import re
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pandas as pd
from rich.console import Console

from cmrseg.errors import ConfigError

console = Console(stderr=True)
STRUCTS = ("LV", "Myo", "RV")


@dataclass(frozen=True)
class EvalSet:
    """Another labelled dataset every run is scored on (never trained on)."""

    name: str
    root: str
    split: str | None = None

    @classmethod
    def parse(cls, text: str) -> "EvalSet":
        """``NAME=ROOT[:SPLIT]``, e.g. ``lge=../shared/data/mscmr_lge:val``."""
        name, sep, rest = text.partition("=")
        if not sep or not name or not rest:
            raise ConfigError(f"--eval {text!r}: write NAME=ROOT or NAME=ROOT:SPLIT, e.g. lge=../shared/data/mscmr_lge:val")
        root, _, split = rest.partition(":")
        if name in {"eval", "selection", "checkpoints", "tb"}:
            raise ConfigError(f"--eval name {name!r} is taken by the run folder's own entries; choose another")
        return cls(name, root, split or None)


@dataclass(frozen=True)
class Arm:
    """One arm of a sweep: a config with its own overrides, under a name.

    Args:
        config: YAML config path.
        overrides: ``key=value`` overrides of this arm only, applied after the sweep's own (so they win).
        name: the arm's row label in the tables (default: the config's stem).
        key: stem of its run folders (default: ``name`` made folder-safe: runs of ``Arm("a.yaml")`` are
            ``a_l<N>_s<seed>``, as for a plain config path).
    """

    config: str
    overrides: tuple[str, ...] = ()
    name: str = ""
    key: str = ""

    @property
    def label(self) -> str:
        return self.name or Path(self.config).stem

    @property
    def stem(self) -> str:
        return self.key or re.sub(r"[^A-Za-z0-9._-]+", "_", self.label).strip("_")


@dataclass
class SweepSpec:
    """What a sweep trains and scores.

    Args:
        configs: config paths and/or :class:`Arm` s, in table order.
        labelled: label budgets (first N training patients); ``None`` keeps each config's own ``data.labelled``
            (the table then shows the number of labelled patients that gives).
        seeds: ``train.seed`` of each run.
        out_dir: folder of the runs and tables.
        overrides: overrides of every run (an arm's own come after them).
        eval_sets: other labelled sets every run is scored on.
        jobs: trainings at once (0: one single-threaded run per core).
        progress: progress bars of the engine.
        evaluate: ``False`` trains only (models that are not segmenters, e.g. image translators): rows then
            hold training time and iterations, and the figure is skipped.
        finished_only: train nothing; tabulate the runs already finished (``DONE``) and name the others
            (a sweep spread over several sessions or machines, tabulated as it stands).
    """

    configs: list[str | Arm]
    labelled: list[int | None]
    seeds: list[int]
    out_dir: Path
    overrides: list[str] = field(default_factory=list)
    eval_sets: list[EvalSet] = field(default_factory=list)
    jobs: int = 0  # 0 = one single-threaded run per core
    progress: bool = False
    evaluate: bool = True
    finished_only: bool = False

    def arms(self) -> list[Arm]:
        return [c if isinstance(c, Arm) else Arm(str(c)) for c in self.configs]

    def run_name(self, arm: Arm | str, labelled: int | None, seed: int) -> str:
        arm = arm if isinstance(arm, Arm) else Arm(str(arm))
        return arm.stem + ("" if labelled is None else f"_l{labelled}") + f"_s{seed}"

    def runs(self) -> list[tuple[Arm, int | None, int]]:
        return [(a, n, s) for a in self.arms() for n in self.labelled for s in self.seeds]


def run_overrides(spec: SweepSpec, arm: Arm, labelled: int | None, seed: int, threads: int) -> list[str]:
    """The sweep's overrides, the arm's, then the run's own (budget, seed, threads, name, folder)."""
    return [*spec.overrides, *arm.overrides, *([] if labelled is None else [f"data.labelled={labelled}"]),
            f"train.seed={seed}", f"train.threads={threads}", f"train.name={spec.run_name(arm, labelled, seed)}",
            f"train.out_dir={spec.out_dir}", f"train.progress={str(spec.progress).lower()}"]


def check_spec(spec: SweepSpec) -> None:
    """Refuse missing configs and arms whose names or run folders would collide."""
    arms = spec.arms()
    for a in arms:
        if not Path(a.config).is_file():
            raise ConfigError(f"sweep config {a.config} does not exist")
    for what, values in (("name", [a.label for a in arms]), ("run folder key", [a.stem for a in arms])):
        twice = sorted({v for v in values if values.count(v) > 1})
        if twice:
            raise ConfigError(f"sweep arms share a {what}: {twice}; give each arm its own name (Arm(name=...)) or "
                              "configs with distinct file names")


def _workers(spec: SweepSpec) -> tuple[int, int]:
    """(runs at once, threads per run). ``jobs=0`` uses every core (fewer runs than cores get more threads each);
    an explicit ``jobs`` keeps ``cores // jobs`` threads per run even when fewer runs are left, so the cores it
    leaves stay free for other work."""
    cores = os.cpu_count() or 1
    jobs = max(1, min(spec.jobs or cores, len(spec.runs())))
    return jobs, max(1, cores // (spec.jobs or jobs))


def plan_runs(spec: SweepSpec) -> pd.DataFrame:
    """The runs ``spec`` would train, one row each (run folder, arm, budget, seed, config, the arm's overrides),
    without training; every run's config is loaded with its overrides, so a typo fails here."""
    from cmrseg.config import load_config

    check_spec(spec)
    threads = _workers(spec)[1]
    rows = []
    for arm, labelled, seed in spec.runs():
        load_config(arm.config, run_overrides(spec, arm, labelled, seed, threads))
        rows.append({"run": spec.run_name(arm, labelled, seed), "arm": arm.label,
                     "labelled": "config" if labelled is None else labelled, "seed": seed, "config": arm.config,
                     "overrides": " ".join(arm.overrides)})
    return pd.DataFrame(rows)


def train_and_score(spec: SweepSpec, arm: Arm, labelled: int | None, seed: int, threads: int) -> dict:
    """Train one run (skipped when ``DONE``, resumed from ``last.pt``), score it; returns its row."""
    import torch

    from cmrseg.config import load_config
    from cmrseg.data.splits import split_from_config
    from cmrseg.io import load_dataset
    from cmrseg.pipeline import evaluate_checkpoint, evaluate_run
    from cmrseg.workflows import fit

    torch.set_num_threads(threads)
    cfg = load_config(arm.config, run_overrides(spec, arm, labelled, seed, threads))
    run_dir = Path(cfg.train.out_dir) / cfg.train.name
    if not (run_dir / "DONE").exists():
        fit(cfg, resume=(run_dir / "checkpoints" / "last.pt").exists())
        (run_dir / "DONE").write_text("done\n", encoding="utf-8")
    best = run_dir / "checkpoints" / "best.pt"
    split = None
    if spec.evaluate or cfg.data.labelled is None:
        split = split_from_config(load_dataset(Path(cfg.data.root), cfg.data.layout), cfg.data, cfg.train.seed)
    if labelled is None:  # the config's own budget, as a number of patients
        own = cfg.data.labelled
        labelled = own if isinstance(own, int) else len(own) if own else len(split.labelled_patients)
    row: dict = {"config": arm.label, "labelled": labelled, "seed": seed, "run": run_dir.name,
                 **_history_columns(run_dir)}
    if not spec.evaluate:
        return row
    if not (run_dir / "eval" / "summary.json").exists():
        evaluate_run(run_dir, cfg, max_figures=2)
    row.update(_columns("val", run_dir / "eval"))
    row.update(_clinical_columns(run_dir / "eval"))
    if split.selection:
        sel_dir = run_dir / "selection"
        if not (sel_dir / "eval" / "summary.json").exists():
            evaluate_checkpoint(best, cfg.data.root, sel_dir, split="train", patients=sorted(
                {r.patient for r in split.selection}), progress=False, threads=threads, max_figures=0,
                device=cfg.train.device)
        row.update(_columns("sel", sel_dir / "eval"))
    for es in spec.eval_sets:
        if not (run_dir / es.name / "eval" / "summary.json").exists():
            evaluate_checkpoint(best, es.root, run_dir / es.name, split=es.split, progress=False, threads=threads,
                                max_figures=2, device=cfg.train.device)
        row.update(_columns(es.name, run_dir / es.name / "eval"))
    return row


def _history_columns(run_dir: Path) -> dict:
    """Training minutes and iterations from the run's ``history.csv``, summed over the rounds of a
    self-training run (``round<r>/history.csv``)."""
    top = run_dir / "history.csv"
    paths = [top] if top.exists() else sorted(run_dir.glob("round*/history.csv"))
    if not paths:
        return {}
    hists = [pd.read_csv(p) for p in paths]
    return {"train_min": round(sum(float(h["minutes"].iloc[-1]) for h in hists), 1),
            "iterations": sum(int(h["iteration"].iloc[-1]) for h in hists)}


def _columns(prefix: str, eval_dir: Path) -> dict:
    """Dice and HD95 (mm) per structure and their means from an evaluation's ``summary.json``."""
    s = json.loads((eval_dir / "summary.json").read_text(encoding="utf-8"))["structures"]
    out = {f"{prefix}_dice_{k}": s[k]["dice_mean"] for k in STRUCTS}
    out[f"{prefix}_dice_mean"] = s["mean"]["dice_mean"]
    out.update({f"{prefix}_hd95_{k}": s[k]["hd95_mm_mean"] for k in STRUCTS})
    out[f"{prefix}_hd95_mean"] = s["mean"]["hd95_mm_mean"]
    return out


def _clinical_columns(eval_dir: Path) -> dict:
    """LV / RV EF and LV mass agreement with the ground truth (MAE over val patients) when ED/ES pairs exist."""
    path = eval_dir / "agreement.json"
    if not path.exists():
        return {}
    a = json.loads(path.read_text(encoding="utf-8"))
    keys = {"LV_EF_pct": "lvef_mae_pct", "RV_EF_pct": "rvef_mae_pct", "LV_mass_g": "lvmass_mae_g"}
    return {col: a[k]["mae"] for k, col in keys.items() if k in a}


def summarise(rows: pd.DataFrame) -> pd.DataFrame:
    """Mean and sample sd over seeds per (config, labelled) of every numeric score column, in the rows' order."""
    scores = [c for c in rows.columns if c not in {"config", "labelled", "seed", "run"}]
    g = rows.groupby(["config", "labelled"], sort=False)
    out = g[scores].mean().round(4)
    sd = g[scores].std().round(4).add_suffix("_sd")
    out = out.join(sd)
    out.insert(0, "seeds", g.size())
    return out.reset_index()


def markdown_table(summary: pd.DataFrame, eval_sets: list[EvalSet]) -> str:
    """The headline columns as a Markdown table: mean +- sd over seeds."""
    def pm(r: pd.Series, col: str, digits: int = 3) -> str:
        if col not in r or pd.isna(r[col]):
            return "-"
        sd = r.get(f"{col}_sd")
        return f"{r[col]:.{digits}f}" + ("" if sd is None or pd.isna(sd) else f" +- {sd:.{digits}f}")

    scored = "val_dice_mean" in summary  # False for a train-only sweep
    sets = (["val"] + (["sel"] if "sel_dice_mean" in summary else []) + [e.name for e in eval_sets]) if scored else []
    head = ["config", "labelled", "seeds", "train min"]
    for s in sets:
        head += [f"{s} Dice LV / Myo / RV", f"**{s} mean Dice**", f"{s} HD95 mean (mm)"]
    head += ["LVEF MAE (pp)", "RVEF MAE (pp)", "LV mass MAE (g)"] if scored else []
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for _, r in summary.iterrows():
        cells = [str(r["config"]), str(r["labelled"]), str(r["seeds"]), pm(r, "train_min", 1)]
        for s in sets:
            cells += [" / ".join(f"{r[f'{s}_dice_{k}']:.3f}" if f"{s}_dice_{k}" in r else "-" for k in STRUCTS),
                      f"**{pm(r, f'{s}_dice_mean')}**", pm(r, f"{s}_hd95_mean", 2)]
        cells += [pm(r, "lvef_mae_pct", 2), pm(r, "rvef_mae_pct", 2), pm(r, "lvmass_mae_g", 1)] if scored else []
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot_dice_vs_labelled(summary: pd.DataFrame, path: Path, metric: str = "val_dice_mean") -> None:
    """Mean Dice against labelled patients with +- sd error bars, one curve per config (baseline beside)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4))
    for name, g in summary.groupby("config", sort=False):
        sd = g.get(f"{metric}_sd")
        ax.errorbar(g["labelled"], g[metric], yerr=None if sd is None else sd.fillna(0), marker="o", capsize=3,
                    label=str(name))
    ax.set_xscale("symlog", linthresh=1)
    ticks = sorted(summary["labelled"].unique())
    ax.set_xticks(ticks, [str(t) for t in ticks])
    ax.set_xlabel("labelled patients")
    ax.set_ylabel(metric.replace("_", " ") + " (3D, mean LV/Myo/RV)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def run_sweep(spec: SweepSpec) -> pd.DataFrame:
    """Train and score every run of ``spec``; write runs.csv, table.csv, table.md and the figure.

    Returns one row per run (``config`` holds the arm's name, ``run`` its folder under ``spec.out_dir``), in
    the order of the arms, then budget, then seed."""
    check_spec(spec)
    jobs, threads = _workers(spec)
    spec.out_dir.mkdir(parents=True, exist_ok=True)
    rows: list[dict] = []
    todo = spec.runs()
    if spec.finished_only:
        done = {k: (spec.out_dir / spec.run_name(*k) / "DONE").exists() for k in todo}
        waiting = [spec.run_name(*k) for k in todo if not done[k]]
        todo = [k for k in todo if done[k]]
        if waiting:
            console.print(f"[yellow]not finished, left out[/] ({len(waiting)}): {', '.join(waiting)}")
        if not todo:
            raise ConfigError(f"--finished-only: none of the {len(waiting)} runs is finished in {spec.out_dir}")
    console.print(f"[bold]sweep[/] {len(todo)} runs, {jobs} at a time x {threads} thread(s) -> {spec.out_dir}")
    failed: list[str] = []

    def collect(key: tuple[Arm, int | None, int], get: Callable[[], dict]) -> None:
        name = spec.run_name(*key)
        try:
            rows.append(get())
        except Exception as exc:  # noqa: BLE001 - one failed run must not lose the others' results
            failed.append(f"{name}: {type(exc).__name__}: {exc}")
            console.print(f"[red]failed[/] {name}: {exc}")
            return
        val = rows[-1].get("val_dice_mean")
        console.print(f"[green]done[/] {name}" + ("" if val is None else f" val {val:.3f}"))

    if jobs == 1:
        for key in todo:
            collect(key, lambda key=key: train_and_score(spec, *key, threads))
    else:
        import multiprocessing as mp

        with ProcessPoolExecutor(jobs, mp_context=mp.get_context("spawn")) as pool:
            futures = {pool.submit(train_and_score, spec, *key, threads): key for key in todo}
            for fut in as_completed(futures):
                collect(futures[fut], fut.result)
    if not rows:
        raise ConfigError("every run of the sweep failed:\n" + "\n".join(failed))
    order = {a.label: i for i, a in enumerate(spec.arms())}
    df = pd.DataFrame(rows)
    df = (df.assign(_arm=df["config"].map(order)).sort_values(["_arm", "labelled", "seed"]).drop(columns="_arm")
          .reset_index(drop=True))
    df.to_csv(spec.out_dir / "runs.csv", index=False)
    summary = summarise(df)
    summary.to_csv(spec.out_dir / "table.csv", index=False)
    (spec.out_dir / "table.md").write_text(markdown_table(summary, spec.eval_sets), encoding="utf-8")
    if "val_dice_mean" in summary:
        plot_dice_vs_labelled(summary, spec.out_dir / "dice_vs_labelled.png")
    if failed:
        (spec.out_dir / "failed.txt").write_text("\n".join(failed) + "\n", encoding="utf-8")
        raise ConfigError(f"{len(failed)} of {len(todo)} runs failed (tables hold the others; see "
                          f"{spec.out_dir / 'failed.txt'}):\n" + "\n".join(failed))
    return df
