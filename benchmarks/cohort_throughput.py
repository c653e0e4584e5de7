"""Benchmark: cohort inference throughput on Ray (volumes per minute), 1 worker vs several, in one run.

Protocol: the 80 ACDC patients (train + val; ED and ES images only, no labels read) are replicated by symlinks
into a temporary ACDC-layout cohort of ``--subjects`` subjects (default 100 = 200 volumes). Ray is started
once on this machine with all its cores; for each worker count W in ``--workers`` (default 1 2) the whole
cohort is segmented into a fresh output folder by ``run_cohort`` with W workers x cores/W torch threads (so
threads x workers = cores in every run), same checkpoint, default chunk (4 volumes) and slice batch; with
``--rounds R`` the configurations alternate R times (1, 2, 1, 2, ...) so load drift on a shared machine hits
each alike. Timed apart: worker start-up (process, imports, model; until the first worker is ready) and
processing (read, preprocess, network, restore, post-process, QC, write NIfTI + record; tables excluded).
vol/min = volumes / processing time. The source files are read once beforehand (warm page cache). The load
average is printed before and at each run: on a shared machine the numbers are a lower bound.

    .venv/bin/python benchmarks/cohort_throughput.py -c runs/acdc_sup70/checkpoints/best.pt \\
        --data ../shared/data/acdc --subjects 100
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import tempfile
import time
from pathlib import Path

import pandas as pd


def build_cohort(src: Path, dst: Path, n_subjects: int) -> int:
    """ACDC-layout cohort of ``n_subjects`` subjects whose ED/ES images are symlinks to ``src``'s; returns volumes."""
    with open(src / "patients.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    dst.mkdir(parents=True)
    out_rows, n = [], 0
    for i in range(n_subjects):
        row = dict(rows[i % len(rows)])
        pid = f"patient{i + 1:05d}"
        (dst / pid).mkdir()
        for key in ("ed_frame", "es_frame"):
            frame = int(row[key])
            name = f"{row['patient']}_frame{frame:02d}.nii.gz"
            os.symlink((src / row["patient"] / name).resolve(), dst / pid / f"{pid}_frame{frame:02d}.nii.gz")
            n += 1
        out_rows.append({**row, "patient": pid})
    with open(dst / "patients.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(out_rows)
    return n


def _load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def measure(cohort: Path, tmp: Path, checkpoint: str, workers: list[int], rounds: int, n_vol: int,
            threads: int | None = None) -> pd.DataFrame:
    """One fresh cohort run per worker count per round, alternating (1, 2, 1, 2, ...) so load drift on a shared
    machine hits every configuration alike."""
    from cmrseg.inference.cohort import run_cohort

    rows = []
    for r in range(rounds):
        for w in workers:
            out = tmp / f"out_r{r}_w{w}"
            load = _load()
            s = run_cohort(cohort, out, checkpoint, workers=w, threads_per_worker=threads)
            assert s.n_processed == n_vol and not s.failed, s.failed
            res = pd.read_csv(out / "results.csv")
            rows.append({"round": r + 1, "workers": s.workers, "threads/worker": s.threads, "volumes": n_vol,
                         "load avg 1/5/15 at start": load, "startup_s": round(s.seconds_startup, 1),
                         "processing_s": round(s.seconds_processing, 1),
                         "vol/min": round(60 * n_vol / s.seconds_processing, 1),
                         "mean s/vol in a worker": round(float(res["seconds"].mean()), 2), "out": out})
    return pd.DataFrame(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-c", "--checkpoint", default="runs/acdc_sup70/checkpoints/best.pt")
    ap.add_argument("--data", default="../shared/data/acdc")
    ap.add_argument("--subjects", type=int, default=100, help="subjects in the cohort (2 volumes each)")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="worker counts to compare")
    ap.add_argument("--rounds", type=int, default=1, help="alternating repetitions of every worker count")
    ap.add_argument("--cores-per-node", type=int, default=16, help="node size for the 10,000-subject projection")
    ap.add_argument("--threads-per-worker", type=int, default=None,
                    help="fix torch threads per worker (1 = linear-scaling test: N workers should give N x)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary cohort and outputs")
    args = ap.parse_args()

    import ray

    tmp = Path(tempfile.mkdtemp(prefix="cohort_bench_"))
    try:
        cohort = tmp / "cohort"
        n_vol = build_cohort(Path(args.data), cohort, args.subjects)
        for p in cohort.rglob("*.nii.gz"):  # warm the page cache: every run reads from memory alike
            p.read_bytes()
        cores = os.cpu_count() or 1
        load_before = _load()
        ray.init(num_cpus=cores, include_dashboard=False, logging_level="WARNING")
        try:
            runs = measure(cohort, tmp, args.checkpoint, args.workers, args.rounds, n_vol, args.threads_per_worker)
        finally:
            ray.shutdown()
        report(runs, args, cores, n_vol, load_before, cohort)
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def report(runs: pd.DataFrame, args: argparse.Namespace, cores: int, n_vol: int, load_before: str,
           cohort: Path) -> None:
    print(f"\nmachine: {cores} cores, shared; cohort: {args.subjects} subjects = {n_vol} ACDC volumes (symlinks), "
          f"checkpoint {args.checkpoint}; {args.rounds} alternating round(s)")
    print(f"load average 1/5/15 min before: {load_before}; after: {_load()}")
    with pd.option_context("display.width", 200):
        print(runs.drop(columns="out").to_string(index=False))
    summary = runs.groupby(["workers", "threads/worker"], sort=False).agg(
        vol_per_min=("vol/min", "mean"), startup_s=("startup_s", "mean")).reset_index()
    summary["scaling vs first"] = (summary["vol_per_min"] / summary["vol_per_min"].iloc[0]).round(2)
    print("\nmean over rounds:")
    print(summary.round(1).to_string(index=False))
    a, b = (pd.read_csv(runs["out"].iloc[i] / "results.csv").set_index("case_id") for i in (0, -1))
    print(f"same results across configurations: max |LV volume difference| {(a['LV_ml'] - b['LV_ml']).abs().max():.3f} "
          f"mL over {n_vol} volumes")

    best = summary.loc[summary["vol_per_min"].idxmax()]
    per_core = best["vol_per_min"] / cores
    volumes = 20_000  # 10,000 subjects x (ED + ES)
    print(f"\nProjection for 10,000 subjects (20,000 ED/ES volumes) at the best rate measured here, "
          f"{per_core:.1f} vol/min per core ({int(best['workers'])} worker(s) x {int(best['threads/worker'])} "
          "thread(s)), assuming it holds per core on every node (one single-threaded worker per core; cases are "
          "independent and the driver only hands out chunks), a shared file system that keeps up, and the "
          f"~{best['startup_s']:.0f} s worker start-up once per run:")
    for nodes in (1, 4, 16):
        minutes = volumes / (per_core * args.cores_per_node * nodes)
        print(f"  {nodes:>2} node(s) x {args.cores_per_node} cores: {minutes / 60:6.2f} h")
    print(f"  this machine ({cores} cores, as loaded): {volumes / best['vol_per_min'] / 60:6.2f} h")
    mb_in = sum(p.resolve().stat().st_size for p in cohort.rglob("*.nii.gz")) / n_vol / 1e6
    mb_out = sum(p.stat().st_size for p in (runs["out"].iloc[-1] / "labels").iterdir()) / n_vol / 1e6
    print(f"I/O per volume: {mb_in:.2f} MB read + {mb_out:.3f} MB written; 16 nodes x {args.cores_per_node} cores "
          f"need ~{(mb_in + mb_out) * per_core * args.cores_per_node * 16 / 60:.1f} MB/s from the shared file system")


if __name__ == "__main__":
    main()
