"""``cmrseg`` command line: thin wrappers over the Python API."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer
from rich.console import Console
from rich.markup import escape

from cmrseg.errors import CmrsegError

if TYPE_CHECKING:
    from cmrseg.postprocess.config import PostprocessConfig

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Label-efficient cardiac MRI segmentation (LV, Myo, RV) and clinical indices.")
console = Console(stderr=True, soft_wrap=True)  # never wrap: file paths in messages must stay whole


def _fail(exc: Exception) -> None:
    console.print(f"[bold red]error:[/] {escape(str(exc))}")
    raise typer.Exit(2)


def _postprocess(path: Optional[Path], no_postprocess: bool, crf: bool, rv_within_mm: Optional[float],
                 lv_enclosed: bool) -> "PostprocessConfig":
    """The one post-processing config: a YAML file's (or the defaults) with the command's flags on top."""
    from cmrseg.postprocess.config import load_postprocess
    from cmrseg.postprocess.crf import CRFConfig

    return load_postprocess(path, enabled=False if no_postprocess else None, crf=CRFConfig() if crf else None,
                            rv_within_mm=rv_within_mm, lv_enclosed=True if lv_enclosed else None)


def _checkpoints(given: list[Path]) -> list[Path]:
    """The checkpoints given, or the verified default model shipped with the package."""
    if given:
        return given
    from cmrseg.models.shipped import default_model

    path = default_model()
    console.print(f"[dim]model: the shipped default ({path.name}; `cmrseg models` for its card)[/]")
    return [path]


@app.command()
def train(
    config: Path = typer.Argument(..., help="YAML config (see configs/; `cmrseg config explain FILE` shows what it "
                                  "means)"),
    set_: list[str] = typer.Option([], "--set", "-s", help="override, e.g. -s optim.iterations=100"),
    data: Optional[Path] = typer.Option(None, help="dataset folder (overrides data.root)"),
    labelled: Optional[str] = typer.Option(None, help="N (first N training patients) or comma-separated ids"),
    name: Optional[str] = typer.Option(None, help="run name (folder under train.out_dir)"),
    resume: bool = typer.Option(False, help="continue the run from its last checkpoint"),
) -> None:
    """Train a method (supervised, semi-supervised, ...) declared in a config."""
    from cmrseg.config import load_config
    from cmrseg.workflows import fit

    overrides = list(set_)
    if data is not None:
        overrides.append(f"data.root={data}")
    if labelled is not None:
        overrides.append(f"data.labelled={labelled if labelled.isdigit() else '[' + labelled + ']'}")
    if name is not None:
        overrides.append(f"train.name={name}")
    try:
        cfg = load_config(config, overrides)
        run_dir = fit(cfg, resume=resume)
    except CmrsegError as exc:
        _fail(exc)
    typer.echo(str(run_dir))


@app.command()
def predict(
    input: Path = typer.Argument(..., help="NIfTI file (3D, or a 4D cine), DICOM series folder (one frame or a cine), "
                                 "or a folder of them"),
    output: Path = typer.Option(..., "-o", "--output", help="output file (single input) or folder"),
    checkpoint: list[Path] = typer.Option([], "-c", "--checkpoint", help="checkpoint (runs/<name>/checkpoints/"
                                          "best.pt); repeat for an ensemble (mean probabilities); default: the "
                                          "model shipped with the package (`cmrseg models`)"),
    frames: str = typer.Option("all", help="cine inputs: which frames to segment: all | ed-es | 1-based frame "
                               "numbers and ranges, e.g. 1,8 or 1-5,12"),
    phases: Optional[Path] = typer.Option(None, help="cine inputs: CSV giving ED/ES per subject (patient,ed_frame,"
                                          "es_frame 1-based, or ed_index,es_index 0-based); default: Info.cfg / the "
                                          "M&Ms CSV beside the file, else found from the LV volume curve"),
    frame_ms: Optional[float] = typer.Option(None, help="cine inputs: time between frames in ms when the header "
                                             "does not give it (peak rates are then in mL/s)"),
    threads: Optional[int] = typer.Option(None, min=1, help="torch threads (default: torch's own choice)"),
    no_postprocess: bool = typer.Option(False, "--no-postprocess", help="skip largest-component / hole filling"),
    save_bias: bool = typer.Option(False, "--save-bias", help="also write the estimated bias field (bias-field "
                                   "models)"),
    crf: bool = typer.Option(False, "--crf", help="refine probabilities with a dense CRF (Bai et al. 2017 "
                             "parameters, sigmas in mm; see cmrseg.postprocess.crf) before post-processing"),
    device: str = typer.Option("cpu", help="where the network runs: cpu, cuda, cuda:N, mps or auto"),
    rv_within_mm: Optional[float] = typer.Option(None, help="post-processing: drop RV components with no voxel "
                                                 "within this in-plane distance (mm) of the LV + myocardium"),
    lv_enclosed: bool = typer.Option(False, "--lv-enclosed", help="post-processing: keep the LV component most "
                                     "enclosed by myocardium (not the largest), and the myocardium around it"),
    postprocess: Optional[Path] = typer.Option(None, "--postprocess", help="YAML post-processing config "
                                               "(cmrseg.postprocess.config: enabled, rv_within_mm, lv_enclosed, crf); "
                                               "the flags above override it"),
) -> None:
    """Segment volumes and cines; outputs are NIfTI label maps on the input's own grid and header.

    A cine (4D NIfTI such as patient001_4d.nii.gz / <code>_sa.nii.gz / <eid>/sa.nii.gz, or a multi-phase DICOM
    series) gives a 4D label map plus <name>_volumes.csv, <name>_volumes.png and <name>_clinical.json (ED/ES,
    EDV/ESV/SV/EF of LV and RV, LV mass, peak ejection / filling rates, QC flags).
    """
    from cmrseg.inference.batch import PredictOutcome, predict_inputs
    from cmrseg.inference.cine import summary_line

    def show(o: PredictOutcome) -> None:
        if o.cine is not None:
            console.print(escape(summary_line(o.cine)))
            console.print(f"  wrote {escape(', '.join(str(p) for p in o.written))}")

    try:
        post = _postprocess(postprocess, no_postprocess, crf, rv_within_mm, lv_enclosed)
        outcomes = predict_inputs(input, output, _checkpoints(checkpoint), post=post, save_bias=save_bias,
                                  device=device, frames=frames, phases_csv=phases, frame_ms=frame_ms,
                                  threads=threads, on_outcome=show)
    except CmrsegError as exc:
        _fail(exc)
    done = [o for o in outcomes if o.error is None]
    n_cine = sum(o.cine is not None for o in done)
    what = f"{len(done) - n_cine} label map(s)" + (f" and {n_cine} cine(s)" if n_cine else "")
    console.print(f"wrote {what} to {escape(str(output))}")
    failed = [o for o in outcomes if o.error is not None]
    for o in failed:
        console.print(f"[red]failed[/] {escape(str(o.src))}: {escape(str(o.error))}")
    if failed:
        raise typer.Exit(1)


@app.command()
def cohort(
    input: Path = typer.Argument(..., help="dataset folder (any layout, or a tree of NIfTI / DICOM series) or "
                                 "manifest CSV with columns case_id,image[,label,patient,phase]"),
    output: Path = typer.Option(..., "-o", "--output", help="folder: labels/, records/, results and subjects "
                                ".csv/.parquet"),
    checkpoint: Path = typer.Option(..., "-c", "--checkpoint", help="checkpoint (runs/<name>/checkpoints/best.pt)"),
    data_root: list[Path] = typer.Option([], "--data-root", help="folder every case file must lie in (repeatable); "
                                         "manifest default: the manifest's folder"),
    address: Optional[str] = typer.Option(None, help="join a running Ray cluster ('auto', 'ray://head:10001'); "
                                          "default: Ray on this machine, all cores"),
    workers: Optional[int] = typer.Option(None, min=1, help="model replicas (default: one per core); each uses "
                                          "cores/workers torch threads"),
    chunk: int = typer.Option(4, min=1, help="cases per request to a worker; their slices share network batches"),
    slice_batch: Optional[int] = typer.Option(None, min=1, help="slices per network batch (default 2, measured "
                                              "fastest on CPU)"),
    layout: Optional[str] = typer.Option(None, help="force a dataset layout (acdc, mscmr, mnms, nnunet, pairs)"),
    no_postprocess: bool = typer.Option(False, help="skip largest-component / hole filling"),
) -> None:
    """Segment a whole cohort on Ray: resumable (re-run the same command), failures recorded per case, tables
    with volumes, clinical indices, QC flags and provenance. Exit status 1 if any case failed."""
    from cmrseg.inference.cohort import run_cohort

    try:
        s = run_cohort(input, output, checkpoint, data_roots=data_root, layout=layout, workers=workers, chunk=chunk,
                       slice_batch=slice_batch, postprocess=not no_postprocess, address=address)
    except CmrsegError as exc:
        _fail(exc)
    console.print(f"{s.n_cases} case(s): {s.n_skipped} already done, {s.n_processed} processed "
                  f"({s.workers} worker(s) x {s.threads} thread(s)), {s.n_failed} failed; tables {escape(str(output))}"
                  "/results.csv, subjects.csv (+ .parquet)")
    for case_id, err in s.failed:
        console.print(f"[red]failed[/] {escape(case_id)}: {escape(err)}")
    if s.failed:
        raise typer.Exit(1)


@app.command()
def evaluate(
    pred: Optional[Path] = typer.Option(None, help="folder of predicted label maps"),
    gt: Optional[Path] = typer.Option(None, help="folder of ground-truth label maps (searched recursively)"),
    checkpoint: Optional[list[Path]] = typer.Option(None, "-c", "--checkpoint",
                                                    help="instead of --pred/--gt: predict --data with this checkpoint "
                                                    "(repeat for an ensemble: mean probabilities)"),
    data: Optional[Path] = typer.Option(None, help="with --checkpoint: any supported dataset layout with labels "
                                        "(e.g. ../shared/data/mscmr_lge); its reader maps the label codes"),
    split: Optional[str] = typer.Option(None, help="with --checkpoint: only cases of this split (train/val/test)"),
    patients: Optional[list[str]] = typer.Option(None, "--patient", help="with --checkpoint: only this patient id "
                                                 "(repeat the option for several)"),
    out: Optional[Path] = typer.Option(None, help="write per_case.csv, summary.json, clinical.csv, agreement.json "
                                       "(with --checkpoint also predictions/ and figures/; required then)"),
    match_clusters: bool = typer.Option(False, help="unsupervised clusterings: map cluster codes to classes "
                                        "(Hungarian on pooled Dice) before scoring; report apart from raw"),
    crf: bool = typer.Option(False, help="with --checkpoint: dense-CRF refinement before post-processing"),
    threads: int = typer.Option(1, help="with --checkpoint: torch threads"),
    device: str = typer.Option("cpu", help="with --checkpoint: where the network runs (cpu, cuda, auto, ...)"),
    rv_within_mm: Optional[float] = typer.Option(None, help="with --checkpoint, post-processing: drop RV components "
                                                 "with no voxel within this in-plane distance (mm) of LV + Myo"),
    lv_enclosed: bool = typer.Option(False, help="with --checkpoint, post-processing: keep the LV component most "
                                     "enclosed by myocardium (not the largest), and the myocardium around it"),
    postprocess: Optional[Path] = typer.Option(None, "--postprocess", help="with --checkpoint: YAML post-processing "
                                               "config (cmrseg.postprocess.config); the flags above override it"),
) -> None:
    """Dice, HD95 and ASSD (mm) per volume and structure, and clinical indices with their agreement.

    Either score existing predictions (--pred/--gt) or predict and score a labelled dataset with a checkpoint
    (--checkpoint/--data/--out), e.g. a model trained on ACDC evaluated on MS-CMRSeg LGE.
    """
    from cmrseg.metrics import evaluate_folders
    from cmrseg.metrics.tables import render_table

    checkpoint = checkpoint or None  # typer gives [] when the option is absent
    by_folders, by_checkpoint = pred is not None or gt is not None, checkpoint is not None or data is not None
    if by_folders == by_checkpoint or (by_folders and (pred is None or gt is None)) or (
            by_checkpoint and (checkpoint is None or data is None or out is None)):
        _fail(ValueError("give either --pred and --gt, or --checkpoint, --data and --out"))
    try:
        if by_checkpoint:
            from cmrseg.pipeline import evaluate_checkpoint

            result = evaluate_checkpoint(checkpoint, data, out, split=split, threads=threads, device=device,
                                         post=_postprocess(postprocess, False, crf, rv_within_mm, lv_enclosed),
                                         patients=patients or None)
        else:
            if out is not None:  # an unwritable --out fails before the scoring, not after
                from cmrseg.io.outputs import prepare_output_dir

                prepare_output_dir(out, "evaluation folder")
            result = evaluate_folders(pred, gt, match_clusters=match_clusters)
    except CmrsegError as exc:
        _fail(exc)
    render_table(result)
    if out is not None:
        if by_folders:
            result.save(out)
        console.print(f"saved tables to {out}")


@app.command()
def report(
    run_dir: Path = typer.Argument(..., help="a run folder written by `cmrseg train` / `cmrseg run`, an evaluation "
                                   "folder (`cmrseg evaluate --out`), or a `cmrseg predict` / `cmrseg cohort` output "
                                   "with cine results"),
    data: Optional[Path] = typer.Option(None, help="dataset folder with images + GT for the slice viewers "
                                        "(default: data.root of RUN_DIR/config.yaml)"),
    max_cases: int = typer.Option(20, min=0, help="slice viewers for at most this many predicted volumes"),
) -> None:
    """Write RUN_DIR/report.html: one self-contained page (slice viewers, sortable metric tables, agreement
    plots, training curves; for cines each subject's volume-time curve and a table of ED/ES, EDV/ESV/SV/EF of LV
    and RV, LV mass and QC flags)."""
    from cmrseg.report import write_report

    try:
        path = write_report(run_dir, data_root=data, max_cases=max_cases)
    except CmrsegError as exc:
        _fail(exc)
    size_mb = path.stat().st_size / 1e6
    console.print(f"report {escape(str(path))} ({size_mb:.1f} MB)")
    typer.echo(str(path))


@app.command()
def run(
    config: Optional[Path] = typer.Argument(None, help="YAML config"),
    set_: list[str] = typer.Option([], "--set", "-s", help="override, e.g. -s optim.iterations=100"),
    data: Optional[Path] = typer.Option(None, help="dataset folder; default: synthetic phantom data"),
    name: Optional[str] = typer.Option(None, help="run name"),
) -> None:
    """The main job end to end: train, predict the validation volumes, evaluate, write the report."""
    from cmrseg.pipeline import run_pipeline

    try:
        run_dir = run_pipeline(config, set_, data, name)
    except CmrsegError as exc:
        _fail(exc)
    typer.echo(str(run_dir))


@app.command()
def propagate(
    input: Path = typer.Argument(..., help="dataset folder (ED<->ES of each patient) or a 4D cine NIfTI file"),
    output: Path = typer.Option(..., "-o", "--output", help="folder for <target case_id>.nii.gz label maps"),
    registrator: Optional[str] = typer.Option(
        None, "-r", "--registrator", help="identity | demons | learned (default: learned with -c, else demons)"),
    checkpoint: Optional[Path] = typer.Option(None, "-c", "--checkpoint", help="vxm-2d checkpoint (learned)"),
    direction: str = typer.Option("ed2es", help="ed2es | es2ed | both (dataset input)"),
    split: Optional[str] = typer.Option(None, help="only patients of this split (train / val)"),
    all_frames: bool = typer.Option(False, help="source phase -> every frame of each patient's 4D cine"),
    label: Optional[Path] = typer.Option(None, help="4D file input: label map of the labelled frame"),
    frame: Optional[int] = typer.Option(None, help="4D file input: 0-based time index of the labelled frame"),
    mask_folding: bool = typer.Option(False, help="set pixels where the deformation folds to 4 (ignore)"),
    min_confidence: float = typer.Option(0.0, help="set pixels with warped top probability below this to 4"),
) -> None:
    """Propagate label maps across the cardiac cycle by registration (written on each target's own grid)."""
    from cmrseg.registration.propagate import propagate_path

    try:
        done = propagate_path(input, output, registrator, checkpoint, label, frame, direction=direction,
                              split=split, all_frames=all_frames, mask_folding=mask_folding,
                              min_confidence=min_confidence)
    except CmrsegError as exc:
        _fail(exc)
    console.print(f"wrote {len(done)} propagated label map(s) to {output}")


@app.command()
def sweep(
    configs: list[Path] = typer.Argument(..., help="recipe config(s), e.g. configs/recipes/semi.yaml"),
    labelled: list[int] = typer.Option([1, 3, 7], "--labelled", "-l", help="label budgets (labelled patients): "
                                       "--labelled 1 3 7"),
    seeds: list[int] = typer.Option([0, 1, 2], "--seeds", help="seeds per budget: --seeds 0 1 2"),
    baseline: Optional[Path] = typer.Option(None, help="also sweep this config (e.g. configs/recipes/supervised.yaml)"),
    eval_: list[str] = typer.Option([], "--eval", help="another labelled set to score every run on: "
                                    "NAME=ROOT[:SPLIT], e.g. lge=../shared/data/mscmr_lge:val"),
    jobs: int = typer.Option(0, help="trainings at once, each with cores / jobs threads; 0 = one per core (single-"
                             "threaded runs use a CPU best)"),
    out: Path = typer.Option(Path("runs/sweep"), help="folder of the runs and tables"),
    set_: list[str] = typer.Option([], "--set", "-s", help="override for every run, e.g. -s optim.iterations=100"),
    dry_run: bool = typer.Option(False, "--dry-run", help="list the runs (configs loaded and checked), train nothing"),
    finished_only: bool = typer.Option(False, "--finished-only", help="train nothing: tabulate the finished runs "
                                       "(a sweep spread over sessions) and name the unfinished ones"),
) -> None:
    """Train and score a recipe at several label budgets and seeds; write a table and a Dice-vs-labelled figure."""
    from cmrseg.workflows.sweep import EvalSet, SweepSpec, plan_runs, run_sweep

    try:
        spec = SweepSpec([str(c) for c in configs] + ([str(baseline)] if baseline else []), labelled, seeds, out,
                         list(set_), [EvalSet.parse(e) for e in eval_], jobs, finished_only=finished_only)
        if dry_run:
            typer.echo(plan_runs(spec).drop(columns="overrides").to_string(index=False))
            return
        run_sweep(spec)
    except CmrsegError as exc:
        _fail(exc)
    typer.echo(str(out / "table.md"))


@app.command()
def phantom(out: Path = typer.Argument(..., help="folder to write an ACDC-like synthetic dataset"),
            patients: int = typer.Option(12), val: int = typer.Option(3), seed: int = typer.Option(0)) -> None:
    """Write the built-in synthetic cine phantom dataset (ACDC layout)."""
    from cmrseg.data.phantom import write_phantom_dataset

    typer.echo(str(write_phantom_dataset(out, n_patients=patients, n_val=val, seed=seed)))


config_app = typer.Typer(add_completion=False, no_args_is_help=True, help="Inspect configurations.")
app.add_typer(config_app, name="config")


@config_app.command("explain")
def config_explain(
    config: Path = typer.Argument(..., help="YAML config"),
    set_: list[str] = typer.Option([], "--set", "-s", help="override, e.g. -s optim.iterations=100"),
) -> None:
    """Print the resolved config (defaults included), each field with its meaning, and what the method, its
    terms and the model accept; refuses unknown keys anywhere, naming the valid ones."""
    from cmrseg.cli.explain import explain_config
    from cmrseg.config import load_config

    try:
        typer.echo(explain_config(load_config(config, list(set_))))
    except CmrsegError as exc:
        _fail(exc)


@app.command()
def models() -> None:
    """List the models shipped with the package (the default is used by `predict` without -c), with their cards."""
    from cmrseg.models.shipped import DEFAULT, SHIPPED_DIR, shipped_models

    found = shipped_models()
    if not found:
        typer.echo(f"no model is shipped in this installation ({SHIPPED_DIR}); train one (`cmrseg train`) and pass "
                   "it with -c")
        return
    for m in found:
        mark = " (default)" if m.name == DEFAULT else ""
        typer.echo(f"{m.name}{mark}: {m.summary}")
        for key in ("training_data", "licence", "numbers", "intended_use", "failure_modes"):
            if key in m.card:
                typer.echo(f"  {key}: {m.card[key]}")
        typer.echo(f"  weights: {m.weights} ({m.card.get('bytes', 0) / 1e6:.1f} MB, sha256 {m.card.get('sha256')})")


@app.command()
def info() -> None:
    """List registered models, losses, methods and dataset layouts."""
    from cmrseg.losses.registry import available_losses
    from cmrseg.methods.base import available_methods
    from cmrseg.models.registry import available_models

    typer.echo(f"models:  {', '.join(available_models())}")
    typer.echo(f"losses:  {', '.join(available_losses())}")
    typer.echo(f"methods: {', '.join(available_methods())}")
    typer.echo("layouts: acdc, mscmr, mnms, nnunet, pairs (+ DICOM series for predict)")


MULTI_VALUE_OPTIONS = ("--labelled", "-l", "--seeds")


def spread_multi_values(argv: list[str]) -> list[str]:
    """``--seeds 0 1 2`` -> ``--seeds 0 --seeds 1 --seeds 2`` (click takes one value per option occurrence)."""
    out: list[str] = []
    current = None
    for tok in argv:
        if tok in MULTI_VALUE_OPTIONS:
            current = tok
            continue
        if current is not None and tok.lstrip("-").isdigit() and not tok.startswith("--"):
            out += [current, tok]
            continue
        current = None
        out.append(tok)
    return out


def main() -> None:  # pragma: no cover
    sys.exit(app(args=spread_multi_values(sys.argv[1:])))
