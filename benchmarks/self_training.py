"""Benchmark (issue 6): self-training with/without dense-CRF pseudo-labels vs supervised, per round.

    python benchmarks/self_training.py --baseline configs/acdc/supervised_7_finetune.yaml \
        --runs acdc_st7_nocrf:crf=false acdc_st7_crf:crf=true [--seeds 0] [--sweep-dir runs/sweep/self_training]
    python benchmarks/self_training.py --baseline configs/acdc/supervised_3_finetune.yaml \
        --baseline-set optim.iterations=1200 --config configs/acdc/self_training_3.yaml \
        --runs acdc_st3_nocrf:crf=false acdc_st3_crf:crf=true [--dry-run]
    python benchmarks/self_training.py --baseline none --runs acdc_st7_crf:crf=true   # no baseline row
    python benchmarks/self_training.py --crf-audit runs/sweep/self_training/acdc_st3_crf_s0  # CRF fixes?

One sweep (:func:`cmrseg.workflows.sweep.run_sweep`, resumable: finished rounds and runs are kept) trains the
fair baseline (``--baseline`` with ``--baseline-set``) and each self-training run: ``--config`` (default
``configs/acdc/self_training_7.yaml``) under the given name with the given ``method.params`` overrides
(``key=value``), per seed; it prints their final scores (mean +- sd over seeds). Then, per run, every round:
round 0 is the pretrained supervised checkpoint the config names; every round's best checkpoint is evaluated on
ACDC val with the standard protocol (3D metrics on the input grid after post-processing, mm; kept in the
round's ``eval/``). Pseudo-label quality = Dice of each round's pseudo-labels on the unlabelled training volumes
against their hidden expert labels (never used for training or selection).

``--crf-audit RUN_DIR`` (a run with ``crf: true``): for every round, re-predicts the unlabelled volumes with the
same source model *without* the CRF and compares with the CRF pseudo-labels the round trained on, against the
hidden labels: share of voxels the CRF changed, how many of those it fixed / broke / moved between wrong
labels (:mod:`cmrseg.metrics.refinement`), Dice change per structure; a figure of the most-changed volumes.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
from common import STRUCTS, add_sweep_args, print_table, result_row, sweep_or_plan

from cmrseg.config import load_config
from cmrseg.workflows.sweep import Arm, SweepSpec

CONFIG = "configs/acdc/self_training_7.yaml"
BASELINE = "supervised, fine-tuned on labelled only"


def evaluate_dir(run_dir: Path, cfg) -> dict:  # type: ignore[no-untyped-def]
    """The standard table row of one engine run folder, evaluated on val once (kept in its ``eval/``)."""
    from cmrseg.pipeline import evaluate_run

    path = run_dir / "eval" / "summary.json"
    if not path.exists():
        evaluate_run(run_dir, cfg, max_figures=2)
    summary = json.loads(path.read_text(encoding="utf-8"))
    return {**result_row(run_dir, summary["structures"]), "protocol": summary.get("protocol", "")}


def pseudo_quality(round_dir: Path) -> dict:
    q = pd.read_csv(round_dir / "pseudo_quality.csv")
    out = {f"pseudo_{k}": round(float(q[f"dice_{k}"].mean()), 3) for k in ("LV", "Myo", "RV")}
    out["pseudo_mean"] = round(sum(out.values()) / 3, 3)
    out["pseudo_kept"] = round(float(q["kept"].mean()), 3)
    return out


def plot_rounds(table: pd.DataFrame, path: Path, title: str) -> None:
    """Val mean Dice (solid) and pseudo-label mean Dice (dashed) per round for each arm; the fair baseline dotted."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    r0 = table[table["round"].astype(str) == "0"]
    base = table[table["round"].astype(str) == "-"]
    for i, (method, g) in enumerate(table[table["method"].str.startswith("self-training")].groupby("method")):
        g = g.sort_values("round")
        rounds = [0] + g["round"].astype(int).tolist()
        val = r0["Dice_mean"].tolist()[:1] + g["Dice_mean"].tolist()
        color = f"C{i}"
        ax.plot(rounds, val, "o-", color=color, label=f"{method}: val")
        ax.plot(g["round"].astype(int), g["pseudo_mean"].astype(float), "s--", color=color,
                label=f"{method}: pseudo-labels")
    if not base.empty:
        ax.axhline(float(base["Dice_mean"].iloc[0]), color="k", ls=":", label="supervised, fine-tuned on labelled only")
    ax.set_xlabel("round")
    ax.set_ylabel("mean Dice (LV, Myo, RV)")
    ax.set_xticks(sorted({0, *table.loc[table["round"].astype(str).str.isdigit(), "round"].astype(int)}))
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def print_gains(rows: list[dict]) -> None:
    """Dice gain per structure of every self-training round over round 0 and over the fair baseline."""
    refs = {r["method"]: r for r in rows if str(r["round"]) in ("0", "-")}
    gains = []
    for r in rows:
        if not str(r["method"]).startswith("self-training"):
            continue
        for ref_name, ref in refs.items():
            g = {k: round(float(r[f"Dice_{k}"]) - float(ref[f"Dice_{k}"]), 3) for k in (*STRUCTS, "mean")}
            top = max(STRUCTS, key=lambda k: g[k])
            gains.append({"method": r["method"], "round": r["round"], "over": ref_name,
                          **{f"gain_{k}": v for k, v in g.items()}, "largest": top})
    if gains:
        print_table(gains, note="gain_*: Dice of the round minus Dice of the reference row (val, same protocol).")


def crf_audit(run_dir: Path, out: Path, max_round: int | None = None) -> None:
    """Per round of a CRF self-training run: what the CRF did to the pseudo-labels (see the module docstring)."""
    from cmrseg.data.splits import split_from_config
    from cmrseg.inference import Predictor
    from cmrseg.io import load_dataset
    from cmrseg.io.nifti import read_nifti
    from cmrseg.metrics.refinement import RefinementCounts, refinement_audit, structure_dice_change
    from cmrseg.postprocess.config import PostprocessConfig
    from cmrseg.postprocess.crf import CRFConfig

    cfg = load_config(run_dir / "config.yaml", [])
    if not cfg.method.params.get("crf", True):
        raise SystemExit(f"{run_dir} was trained without the CRF (method.params.crf: false); audit a CRF run")
    refs = load_dataset(Path(cfg.data.root), cfg.data.layout)
    unlabelled = split_from_config(refs, cfg.data, cfg.train.seed).unlabelled
    rows, examples = [], []
    for rdir in sorted(run_dir.glob("round[1-9]*"), key=lambda d: int(d.name[5:])):
        r = int(rdir.name[5:])
        if not (rdir / "pseudo_quality.csv").exists() or (max_round is not None and r > max_round):
            continue
        pre = cfg.method.params.get("pretrained")
        source = Path(pre) if r == 1 and pre else run_dir / f"round{r - 1}" / "checkpoints" / "best.pt"
        predictor = Predictor.from_checkpoint(source, threads=cfg.train.threads)
        # the same model, with the round's CRF: one network pass per volume serves both
        crf_predictor = Predictor(predictor.model, predictor.pre_cfg,
                                  post=PostprocessConfig(crf=CRFConfig(**cfg.method.params.get("crf_params", {}))))
        total, before_pp, ddice = RefinementCounts(), RefinementCounts(), {k: 0.0 for k in STRUCTS}
        for ref in unlabelled:
            case = ref.load(with_label=True)
            prepared = predictor.prepare(case)
            outputs = predictor.forward([prepared.image])[0]
            pred = predictor.finish(outputs, prepared)
            raw = pred.label
            crf, _, _ = read_nifti(rdir / "pseudo" / f"{ref.case_id}.nii.gz", kind="label")
            c = refinement_audit(raw, crf, case.label)
            total = total + c
            # the same comparison before post-processing (largest 3D component, hole filling): how much of
            # the change is the CRF itself, and how much its interplay with the post-processing
            before_pp = before_pp + refinement_audit(pred.raw_label, crf_predictor.finish(outputs, prepared).raw_label,
                                                     case.label)
            for k, v in structure_dice_change(raw, crf, case.label).items():
                ddice[k] += v / len(unlabelled)
            if r == 1:
                examples.append((c.changed, ref.case_id, case.image, case.label, raw, crf))
                examples = sorted(examples, key=lambda e: -e[0])[:3]
        pre_pp = before_pp.summary()
        rows.append({"round": r, "volumes": len(unlabelled), **{k: round(v, 4) for k, v in total.summary().items()},
                     **{f"dDice_{k}": round(v, 4) for k, v in ddice.items()}, "fixed": total.fixed,
                     "broken": total.broken, "moved": total.moved, "errors_before": total.wrong_before,
                     **{f"prePP_{k}": round(pre_pp[k], 4) for k in
                        ("changed_of_errors_pct", "fixed_of_changed", "broken_of_changed", "net_errors_removed_pct")}})
        print(f"round {r}: {rows[-1]}", flush=True)
    if not rows:
        raise SystemExit(f"no round with pseudo-labels under {run_dir}")
    print_table(rows, note=None)
    out.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(out / f"crf_audit_{run_dir.name}.csv", index=False)
    plot_crf_examples(examples, out / f"crf_audit_{run_dir.name}.png")
    print(f"table and figure: {out}/crf_audit_{run_dir.name}.csv / .png")
    print("changed_pct: voxels the CRF changed (% of all; changed_of_errors_pct: as % of the errors before); "
          "fixed/broken/moved_of_changed: of those, wrong->right, right->wrong, wrong->other wrong; net_errors_removed_pct: (errors before - after) / errors before; "
          "dDice: mean Dice change per structure (CRF - no CRF) over the unlabelled volumes; prePP_*: the same "
          "before post-processing (argmax of the network / of the CRF marginals).")


def plot_crf_examples(examples: list, path: Path) -> None:
    """For the volumes the CRF changed most: image, hidden truth, no-CRF and CRF pseudo-label on the slice with
    most changes, cropped to the heart, and the changed voxels: cyan fixed, magenta broken, yellow wrong -> other
    wrong; labels: RV blue, Myo green, LV red."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap

    cmap = ListedColormap(["none", "tab:blue", "tab:green", "tab:red"])
    fig, axes = plt.subplots(len(examples), 5, figsize=(13.5, 2.9 * len(examples)), squeeze=False)
    for row, (_, case_id, image, truth, raw, crf) in zip(axes, examples):
        z = int(np.argmax((raw != crf).reshape(len(raw), -1).sum(1)))
        ys, xs = np.nonzero((truth[z] > 0) | (raw[z] > 0) | (crf[z] > 0))
        m = 12
        box = ((slice(max(ys.min() - m, 0), ys.max() + m), slice(max(xs.min() - m, 0), xs.max() + m))
               if len(ys) else (slice(None), slice(None)))
        image, truth, raw, crf = (a[z][box][None] for a in (image, truth, raw, crf))
        z = 0
        panels = [("image", None), ("hidden truth", truth), ("no CRF", raw), ("CRF", crf), ("voxels changed", None)]
        for ax, (title, lab) in zip(row, panels):
            ax.imshow(image[z], cmap="gray")
            if lab is not None:
                ax.imshow(np.ma.masked_equal(lab[z], 0), cmap=cmap, vmin=0, vmax=3, alpha=0.45,
                          interpolation="nearest")
            ax.set_title(f"{case_id}: {title}" if title == "image" else title, fontsize=8)
            ax.axis("off")
        changed = raw[z] != crf[z]
        marks = np.zeros(changed.shape + (4,))
        marks[changed & (crf[z] == truth[z])] = (0, 1, 1, 1)
        marks[changed & (raw[z] == truth[z])] = (1, 0, 1, 1)
        marks[changed & (raw[z] != truth[z]) & (crf[z] != truth[z])] = (1, 1, 0, 1)
        row[4].imshow(marks, interpolation="nearest")
    fig.suptitle("CRF vs no-CRF pseudo-labels, round 1, the volumes the CRF changed most (slice with most changes); "
                 "RV blue, Myo green, LV red; changed voxels: cyan fixed, magenta broken, yellow wrong -> other wrong",
                 fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--baseline", default="configs/acdc/supervised_7_finetune.yaml",
                    help="fair baseline config (round 0 fine-tuned on labelled data only), or 'none'")
    ap.add_argument("--baseline-set", nargs="*", default=[], help="overrides for the baseline only, e.g. "
                    "optim.iterations=1200 (as many iterations as the rounds it is compared with)")
    ap.add_argument("--config", default=CONFIG, help="self-training config (e.g. configs/acdc/self_training_3.yaml)")
    ap.add_argument("--runs", nargs="+", default=["acdc_st7_nocrf:crf=false", "acdc_st7_crf:crf=true"],
                    help="NAME:key=value,key=value (method.params overrides)")
    ap.add_argument("--out", default="benchmarks/out/self_training",
                    help="folder for <config stem>.csv (the table) and <config stem>.png (Dice per round)")
    ap.add_argument("--crf-audit", type=Path, default=None,
                    help="a self-training run with the CRF: audit what the CRF did to its pseudo-labels, then exit")
    ap.add_argument("--max-round", type=int, default=None, help="with --crf-audit: audit rounds up to this one")
    add_sweep_args(ap, "self_training")
    return ap.parse_args(argv)


def build_spec(args: argparse.Namespace) -> SweepSpec:
    """The baseline arm (its own overrides) and one arm per self-training run (named as given)."""
    arms = [] if args.baseline.lower() == "none" else [Arm(args.baseline, tuple(args.baseline_set), BASELINE,
                                                           Path(args.baseline).stem)]
    for spec in args.runs:
        name, _, params = spec.partition(":")
        arms.append(Arm(args.config, tuple(f"method.params.{kv}" for kv in params.split(",") if kv), name))
    return SweepSpec(arms, [None], args.seeds, args.sweep_dir, list(args.set), jobs=args.jobs)


def round_rows(spec: SweepSpec, runs: pd.DataFrame) -> list[dict]:
    """Round 0 (the pretrained run), the baseline and every finished round of every self-training run."""
    several = runs["seed"].nunique() > 1
    rows: list[dict] = []
    for r in runs.itertuples():
        run_dir = spec.out_dir / r.run
        seed = f", seed {r.seed}" if several else ""
        if r.config == BASELINE:
            rows.append({"method": BASELINE + seed, "round": "-",
                         **evaluate_dir(run_dir, load_config(run_dir / "config.yaml", []))})
            continue
        cfg = load_config(run_dir / "config.yaml", [])
        pre = Path(cfg.method.params["pretrained"]).parents[1]
        if not any(str(row["round"]) == "0" for row in rows):  # round 0 = the pretrained supervised run, shared
            rows.insert(0, {"method": f"pretrained {pre.name} (round 0)", "round": 0,
                            **evaluate_dir(pre, load_config(pre / "config.yaml", []))})
        crf = "CRF" if cfg.method.params.get("crf", True) else "no CRF"
        for rdir in sorted(run_dir.glob("round[1-9]*"), key=lambda d: int(d.name[5:])):
            if (rdir / "DONE").exists():
                rows.append({"method": f"self-training ({crf}){seed}", "round": int(rdir.name[5:]),
                             **evaluate_dir(rdir, load_config(rdir / "config.yaml", [])), **pseudo_quality(rdir)})
    return rows


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.crf_audit is not None:
        crf_audit(args.crf_audit, Path(args.out), args.max_round)
        return
    spec = build_spec(args)
    runs = sweep_or_plan(spec, args.dry_run)
    if runs is None:
        return
    rows = round_rows(spec, runs)
    keep = ["method", "round", "iters", "best_iter", "Dice_LV", "Dice_Myo", "Dice_RV", "Dice_mean", "HD95_LV",
            "HD95_Myo", "HD95_RV", "ASSD_LV", "ASSD_Myo", "ASSD_RV", "missed", "LVEF_MAE", "RVEF_MAE",
            "pseudo_LV", "pseudo_Myo", "pseudo_RV", "pseudo_mean", "pseudo_kept"]
    table_rows = [{k: r.get(k, "") for k in keep} for r in rows]
    print_table(table_rows)
    print_gains(table_rows)
    stem = Path(args.config).stem
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(table_rows).to_csv(out / f"{stem}.csv", index=False)
    labelled = load_config(args.config, []).data.labelled
    plot_rounds(pd.DataFrame(table_rows), out / f"{stem}.png",
                f"ACDC val, {labelled} labelled patients: self-training per round ({stem})")
    print(f"table and figure: {out / stem}.csv / .png")
    print("pseudo_*: Dice of the round's pseudo-labels (made by the previous round's model) on the unlabelled "
          "training volumes vs their hidden expert labels; iters = iterations of that round.")


if __name__ == "__main__":
    main()
