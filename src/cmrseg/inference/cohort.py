"""Cohort inference on Ray: thousands of volumes, resumable, failures isolated, one results table.

How a run goes (:func:`run_cohort`):

1. The driver lists the cohort: a dataset folder of any layout (``cmrseg.io.load_dataset``; a folder tree of
   plain NIfTI files or DICOM series otherwise) or a manifest CSV (:func:`read_manifest`). Cases already done
   by an earlier run with the same checkpoint are skipped (resume); the rest is cut into chunks.
2. ``workers`` Ray actors each hold the model once, with ``torch`` threads = cluster CPUs // workers; that
   number is also the actor's ``num_cpus``, so Ray never places more threads than cores on a node. The
   driver keeps every actor busy with the next chunk (two in flight each, so no actor waits for the driver).
3. An actor reads and preprocesses its chunk's volumes, runs their slices together through the network
   (:meth:`Predictor.forward`), restores and post-processes each, and writes ``labels/<case_id>.nii.gz``,
   then ``records/<case_id>.json``, both atomically (temporary file in the same folder, then ``os.replace``).
   The record is the done marker and holds the case's volumes, QC flags and provenance; a run killed at any
   moment loses at most the cases in flight, and a restart with the same command redoes only those.
4. A failing case (corrupt file, bad header, ...) becomes a ``failed`` record with its error; a worker
   process that dies takes its chunk with it, and the driver retries those cases one by one, so only the
   culprit is recorded as failed. The driver finally writes ``results.{csv,parquet}`` (one row per volume),
   ``subjects.{csv,parquet}`` (clinical indices per subject from the ED/ES pair, with QC flags) and, for each
   subject segmented over a cine, its volume curve in ``curves/`` (:func:`write_cine_curves`).

Local by default (``ray.init()`` on this machine, all cores); ``address="auto"`` or ``"ray://head:10001"`` joins
an existing cluster through the same code path. On a cluster, inputs and the output folder must be on a file
system every node mounts under the same path; the checkpoint travels through Ray's object store.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
import socket
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from cmrseg import __version__
from cmrseg.errors import CmrsegError, ConfigError, InputError
from cmrseg.inference.qc import QCLimits, fragment_pct, subject_flags, volume_flags
from cmrseg.io.base import CaseRef, finalize_refs
from cmrseg.io.nifti import is_nifti, strip_nifti_suffix
from cmrseg.io.nnunet import patient_frame

log = logging.getLogger(__name__)

LABELS_DIR, RECORDS_DIR, CURVES_DIR = "labels", "records", "curves"
MANIFEST_REQUIRED = ("case_id", "image")
MANIFEST_OPTIONAL = ("label", "patient", "phase")
RESULT_COLUMNS = (
    "case_id", "patient", "phase", "frame", "time_ms", "status", "error", "image", "label", "output", "n_slices",
    "spacing_mm_zyx", "LV_ml", "Myo_ml", "RV_ml", "LV_fragment_pct", "Myo_fragment_pct", "RV_fragment_pct",
    "Dice_LV", "Dice_Myo", "Dice_RV", "qc_flags", "qc_ok", "notes", "seconds", "worker", "finished_at",
    "postprocess", "checkpoint", "checkpoint_sha256", "checkpoint_iteration", "cmrseg_version",
)


# ----------------------------------------------------------------------------------------------- listing

def _check_case_id(case_id: str, where: Path) -> None:
    if not case_id or "/" in case_id or "\\" in case_id or case_id.startswith(".") or "\0" in case_id:
        raise InputError(f"case id {case_id!r} cannot name an output file (empty, has a path separator or starts "
                         "with '.')", where, "use ids made of letters, digits, '_', '-' and '.'")


def _within(path: Path, roots: Sequence[Path]) -> bool:
    real = path.resolve()  # follows symlinks: a link inside a root that points outside escapes it
    return any(real.is_relative_to(root) for root in roots)


def _check_roots(refs: Sequence[CaseRef], roots: Sequence[Path], where: Path) -> None:
    for ref in refs:
        for kind, p in (("image", ref.image_path), ("label", ref.label_path)):
            if p is not None and not _within(Path(p), roots):
                raise InputError(f"case {ref.case_id!r}: {kind} path {p} resolves to {Path(p).resolve()}, outside "
                                 f"the data roots {[str(r) for r in roots]}", where,
                                 "move the file under a data root, or declare its folder with --data-root")


def read_manifest(path: str | Path, data_roots: Sequence[str | Path] = ()) -> list[CaseRef]:
    """Cases of a manifest CSV: columns ``case_id,image`` and optionally ``label``, ``patient``, ``phase``.

    Relative paths are taken from the first data root, or from the manifest's folder when none is given.
    Every image/label path must resolve (symlinks followed) inside a data root (default: the manifest's
    folder): a manifest must not reach files outside the data it declares. ``patient`` defaults to the case id
    without a trailing ``_frameNN``/``_ED``/``_ES``; ``phase`` (``ED``/``ES``) pairs volumes for the clinical
    indices. Files are not opened here: a missing or corrupt file fails its case, not the run.

    Raises:
        InputError: unreadable CSV, missing columns, empty or duplicate case ids, a bad phase, a path outside
            the data roots.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("manifest file does not exist", path, "give a CSV with columns case_id,image[,label]")
    roots = [Path(r).resolve() for r in data_roots] or [path.parent.resolve()]
    for root in roots:
        if not root.is_dir():
            raise InputError("data root is not an existing folder", root, "check --data-root")
    base = roots[0] if data_roots else path.parent
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read the manifest as CSV ({type(exc).__name__}: {exc})", path,
                         "write a UTF-8 CSV with a header line: case_id,image[,label,patient,phase]") from exc
    table.columns = [c.strip() for c in table.columns]
    missing = [c for c in MANIFEST_REQUIRED if c not in table.columns]
    if missing:
        raise InputError(f"manifest lacks column(s) {missing}; it has {list(table.columns)}", path,
                         f"columns: {', '.join(MANIFEST_REQUIRED)} and optionally {', '.join(MANIFEST_OPTIONAL)}")
    if table.empty:
        raise InputError("manifest lists no cases", path, "add one row per volume")
    refs = []
    for i, row in enumerate(table.to_dict("records"), start=2):  # line 1 is the header
        case_id, image = row["case_id"].strip(), row["image"].strip()
        _check_case_id(case_id, path)
        if not image:
            raise InputError(f"line {i} ({case_id}): empty image path", path, "give the image file of every case")
        phase = (row.get("phase") or "").strip().upper() or None
        if phase not in (None, "ED", "ES"):
            raise InputError(f"line {i} ({case_id}): phase {row['phase']!r} is not ED or ES", path,
                             "leave phase empty or write ED / ES")
        patient, frame, name_phase = patient_frame(case_id)
        label = (row.get("label") or "").strip()
        refs.append(CaseRef(case_id=case_id, patient=(row.get("patient") or "").strip() or patient,
                            image_path=base / image, label_path=base / label if label else None,
                            phase=phase or name_phase, frame=frame, dataset="manifest"))
    _check_roots(refs, roots, path)
    return finalize_refs(refs, path)


def _folder_refs(input: Path, layout: str | None) -> list[CaseRef]:
    from cmrseg.inference.batch import list_inputs
    from cmrseg.io import detect_layout, load_dataset

    if layout is None and input.is_dir():
        try:
            layout = detect_layout(input)
        except InputError:
            layout = None  # no known layout: any NIfTI files / DICOM series below, as `cmrseg predict` does
    if layout is not None:
        return finalize_refs([r for ref in load_dataset(input, layout) for r in _expand_cine(ref)], input)
    refs = []
    for p in list_inputs(input):
        cine = cine_refs(p)
        if cine:
            refs += cine
            continue
        stem = strip_nifti_suffix(p.name) if is_nifti(p) else p.name
        patient, frame, phase = patient_frame(stem)
        refs.append(CaseRef(case_id=stem, patient=patient, image_path=p, frame=frame, phase=phase,
                            dataset="nifti" if is_nifti(p) else "dicom"))
    return finalize_refs(refs, input)


def _expand_cine(ref: CaseRef) -> list[CaseRef]:
    """A layout's case whose image is a whole 4D cine (e.g. a ``pairs`` folder of ``X_4d.nii.gz`` with
    ``X_4d_gt.nii.gz``): one ref per frame, the label read frame by frame too; any other ref as it is."""
    if ref.time_index is not None or ref.loader is not None or not is_nifti(ref.image_path):
        return [ref]
    frames = cine_refs(Path(ref.image_path))
    return [replace(f, label_path=ref.label_path, label_map=ref.label_map, dataset=ref.dataset, split=ref.split,
                    meta={**ref.meta, **f.meta}) for f in frames] or [ref]


def cine_refs(path: Path) -> list[CaseRef]:
    """One :class:`CaseRef` per frame of a cine (4D NIfTI, or a DICOM series with several phases), ``[]`` for
    anything else. Case ids are ``<subject>_frameNN`` (1-based); frames that a sidecar / CSV names ED or ES
    get that phase, otherwise the subject table finds ED/ES from the LV volume curve. Headers only."""
    import nibabel as nib

    from cmrseg.io.cine import frame_times_from_header, given_phases, nifti_frames, subject_name
    from cmrseg.io.dicom import scan_series

    times = None
    if is_nifti(path):
        n = nifti_frames(path)
        if n > 1:
            times = frame_times_from_header(nib.load(str(path)).header, n)[0]
    else:
        try:
            layout = scan_series(path)
        except InputError:
            return []  # not readable as a series: its one case fails with the reader's message
        n, trig = layout.n_frames, layout.trigger_times()
        times = None if trig is None else trig.mean(axis=0)
    if n < 2:
        return []
    name = subject_name(path)
    hint = given_phases(path, name, n)
    phases = {} if hint is None else {hint.ed: "ED", hint.es: "ES"}
    return [CaseRef(case_id=f"{name}_frame{t + 1:02d}", patient=name, image_path=path, time_index=t, frame=t + 1,
                    phase=phases.get(t), dataset="nifti" if is_nifti(path) else "dicom",
                    meta={"n_frames": n, "cine": True, "time_ms": None if times is None else round(float(times[t]), 2)})
            for t in range(n)]


def list_cohort(input: str | Path, data_roots: Sequence[str | Path] = (), layout: str | None = None) -> list[CaseRef]:
    """The cohort's cases: a manifest ``.csv`` (:func:`read_manifest`) or a folder (any layout, or a tree of
    NIfTI files / DICOM series). With ``data_roots``, folder cases must lie inside them too."""
    input = Path(input)
    if input.suffix.lower() == ".csv":
        return read_manifest(input, data_roots)
    refs = _folder_refs(input, layout)
    for ref in refs:
        _check_case_id(ref.case_id, input)
    if data_roots:
        _check_roots(refs, [Path(r).resolve() for r in data_roots], input)
    return refs


# ----------------------------------------------------------------------------------------------- records

def _atomic_write(path: Path, write: Callable[[str], Any]) -> None:
    """``write(tmp)`` then ``os.replace(tmp, path)``: ``path`` is never seen half-written.

    The temporary name is unique per process and call (``.<name>.<pid>.<random>.tmp``, same folder, so the
    rename is atomic); ``write`` creates it with ordinary permissions (umask), unlike ``mkstemp``'s 0600.
    """
    tmp = str(path.parent / f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_record(records_dir: Path, record: dict) -> None:
    def dump(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(record, fh, indent=1)

    _atomic_write(records_dir / f"{record['case_id']}.json", dump)


def read_record(path: Path) -> dict | None:
    """A record, or ``None`` when missing or unreadable (treated as not done). A record of an older run names
    its spacing ``spacing_mm``; it is read as ``spacing_mm_zyx`` (the same values, slice spacing first)."""
    try:
        with open(path, encoding="utf-8") as fh:
            record = json.load(fh)
    except (OSError, ValueError):
        return None
    if isinstance(record, dict) and "spacing_mm" in record:
        record.setdefault("spacing_mm_zyx", record.pop("spacing_mm"))
    return record


def remove_temp_files(out: Path) -> int:
    """Delete temporary files a killed run left in the output folders (``.<name>.*.tmp*``); returns the count."""
    n = 0
    for folder in (out, out / LABELS_DIR, out / RECORDS_DIR):
        for p in folder.glob(".*.tmp*") if folder.is_dir() else ():
            p.unlink(missing_ok=True)
            n += 1
    return n


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _abs(path: str | Path) -> str:
    return os.path.abspath(path)


def _base_record(ref: CaseRef, provenance: dict) -> dict:
    rec: dict[str, Any] = {c: None for c in RESULT_COLUMNS}
    rec.update(case_id=ref.case_id, patient=ref.patient, phase=ref.phase, frame=ref.frame,
               time_ms=ref.meta.get("time_ms"), image=_abs(ref.image_path),
               label=None if ref.label_path is None else _abs(ref.label_path), error="", notes="",
               worker=f"{socket.gethostname()}:{os.getpid()}", **provenance)
    return rec


def failed_record(ref: CaseRef, exc: BaseException | str, provenance: dict) -> dict:
    """Record of a case that could not be segmented; ``error`` says why (the file and the problem)."""
    rec = _base_record(ref, provenance)
    msg = exc if isinstance(exc, str) else str(exc) if isinstance(exc, CmrsegError) else f"{type(exc).__name__}: {exc}"
    rec.update(status="failed", error=msg, qc_ok=False,
               finished_at=datetime.now(timezone.utc).isoformat(timespec="seconds"))
    return rec


def _is_done(rec: dict | None, ref: CaseRef, out: Path, provenance: dict) -> bool:
    return (rec is not None and rec.get("status") == "ok" and rec.get("image") == _abs(ref.image_path)
            and rec.get("checkpoint_sha256") == provenance["checkpoint_sha256"]
            and rec.get("postprocess") == provenance["postprocess"] and (out / str(rec.get("output"))).is_file())


# ----------------------------------------------------------------------------------------------- worker side

def _load(ref: CaseRef) -> tuple[Any, np.ndarray | None, str]:
    """The case (image), its reference label when it has a usable one, and a note when the label is unusable."""
    if ref.label_path is None:
        return ref.load(with_label=False), None, ""
    try:
        case = replace(ref, scribble_path=None).load(with_label=True)
        return case, case.label, ""
    except InputError as exc:
        case = ref.load(with_label=False)  # raises if the image itself is the problem
        return case, None, f"reference label not used: {exc}"


def process_chunk(predictor: Any, refs: Sequence[CaseRef], out: Path, provenance: dict,
                  limits: QCLimits = QCLimits()) -> list[dict]:
    """Segment a chunk of cases, writing each label map then its record; returns the records in order.

    Slices of all volumes that read and preprocess cleanly go through the network together; every other
    stage runs per case, and any exception there fails that case only (recorded, never raised). If the shared
    network call itself fails, each volume is retried alone so the error lands on the right case.
    """
    from cmrseg.io.nifti import write_nifti
    from cmrseg.metrics.clinical import structure_volumes_ml
    from cmrseg.metrics.overlap import dice_per_structure

    records: dict[str, dict] = {}

    def fail(ref: CaseRef, exc: Exception) -> dict:  # no label map may outlive a failure (e.g. an older run's)
        (out / LABELS_DIR / f"{ref.case_id}.nii.gz").unlink(missing_ok=True)
        return failed_record(ref, exc, provenance)

    ready = []
    for ref in refs:
        t0 = time.perf_counter()
        try:  # broad on purpose: one bad case (any error) must not stop the other cases of the cohort
            case, gt, note = _load(ref)
            ready.append((ref, case, gt, note, predictor.prepare(case), time.perf_counter() - t0))
        except Exception as exc:  # noqa: BLE001
            records[ref.case_id] = fail(ref, exc)
            write_record(out / RECORDS_DIR, records[ref.case_id])
    t0 = time.perf_counter()
    try:
        outputs: list[Any] = predictor.forward([item[4].image for item in ready]) if ready else []
    except Exception:  # noqa: BLE001 - retried per volume below
        outputs = [None] * len(ready)
    shared = (time.perf_counter() - t0) / max(1, len(ready))
    for (ref, case, gt, note, pre, seconds), output in zip(ready, outputs):
        t0 = time.perf_counter()
        try:
            pred = predictor.finish(output if output is not None else predictor.forward([pre.image])[0], pre)
            dst = write_nifti(pred.label, case.affine, out / LABELS_DIR / f"{ref.case_id}.nii.gz")
            volumes = structure_volumes_ml(pred.label, case.spacing)
            fragments = fragment_pct(pred.raw_label if pred.raw_label is not None else pred.label)
            flags = volume_flags(volumes, fragments, limits)
            dice = dice_per_structure(pred.label, gt) if gt is not None else {}
            rec = _base_record(ref, provenance)
            rec.update(status="ok", output=str(dst.relative_to(out)), n_slices=int(case.shape[0]),
                       spacing_mm_zyx=",".join(f"{s:g}" for s in case.spacing), notes=note,
                       qc_flags=";".join(flags), qc_ok=not flags,
                       seconds=round(seconds + shared + time.perf_counter() - t0, 4),
                       finished_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                       **{f"{k}_ml": round(v, 3) for k, v in volumes.items()},
                       **{f"{k}_fragment_pct": round(v, 3) for k, v in fragments.items()},
                       **{f"Dice_{k}": round(v, 4) for k, v in dice.items()})
        except Exception as exc:  # noqa: BLE001
            rec = fail(ref, exc)
        write_record(out / RECORDS_DIR, rec)  # after the label map: the record marks the case done
        records[ref.case_id] = rec
    return [records[ref.case_id] for ref in refs]


class CohortWorker:
    """A Ray actor body: one model replica with ``threads`` torch threads, segmenting chunks on request."""

    def __init__(self, checkpoint: dict, threads: int, out: str, provenance: dict, postprocess: bool,
                 slice_batch: int | None, limits: QCLimits) -> None:
        from cmrseg.inference.predictor import Predictor

        kw = {"batch": slice_batch} if slice_batch else {}
        self.predictor = Predictor.from_checkpoint(checkpoint, post=postprocess, threads=threads, **kw)
        self.out, self.provenance, self.limits = Path(out), provenance, limits

    def ready(self) -> str:
        import torch

        return f"{socket.gethostname()}:{os.getpid()} threads={torch.get_num_threads()}"

    def run(self, refs: list[CaseRef]) -> list[dict]:
        return process_chunk(self.predictor, refs, self.out, self.provenance, self.limits)


# ----------------------------------------------------------------------------------------------- driver

@dataclass
class CohortSummary:
    """What a run did. ``workers``: replicas run at once (``worker_names``: every one started, replacements of
    dead ones included). ``seconds_startup``: until the first worker held the model; ``seconds_processing``:
    from then to the last case (tables excluded)."""

    n_cases: int
    n_skipped: int
    n_processed: int
    failed: list[tuple[str, str]]
    results: Path
    subjects: Path
    workers: int = 0
    threads: int = 0
    seconds_startup: float = 0.0
    seconds_processing: float = 0.0
    worker_names: list[str] = field(default_factory=list)

    @property
    def n_failed(self) -> int:
        return len(self.failed)


def _quiet_ray_notice(record: logging.LogRecord) -> bool:
    """Drop Ray's per-start notice that token authentication is on (it stays on; the notice is noise on every
    cohort run). Every other Ray message passes."""
    return "Token authentication is enabled" not in record.getMessage()


@contextmanager
def _ray_session(address: str | None) -> Iterator[Any]:
    """Use the Ray connection already open (tests, notebooks), else start or join one and close it after."""
    import ray

    if ray.is_initialized():
        yield ray
        return
    kw: dict[str, Any] = {"address": address, "logging_level": logging.WARNING}
    if address is None:  # a fresh local instance on all cores; options not allowed when joining a cluster
        kw["include_dashboard"] = False
    for name in ("ray", "ray._private.authentication.authentication_token_setup"):
        logging.getLogger(name).addFilter(_quiet_ray_notice)
    ray.init(**kw)
    try:
        yield ray
    finally:
        ray.shutdown()


def plan_workers(cpus: int, workers: int | None, n_chunks: int, threads: int | None = None) -> tuple[int, int]:
    """``(workers, torch threads per worker)`` with ``workers * threads <= cpus`` (never oversubscribed).

    Default: one single-threaded worker per core. Never more workers than chunks; the cores of workers that
    are not needed go to the others' threads.

    Example:
        >>> plan_workers(16, None, 1000), plan_workers(16, 4, 1000), plan_workers(2, None, 1)
        ((16, 1), (4, 4), (1, 2))
    """
    if workers is not None and workers > cpus:
        raise ConfigError(f"{workers} workers need at least {workers} CPU cores, the Ray cluster has {cpus}; "
                          f"use --workers {cpus} or fewer")
    n = max(1, min(workers or cpus, n_chunks))
    if threads is not None:  # fixed threads per worker (scaling measurements): still never oversubscribed
        if threads < 1 or n * threads > cpus:
            raise ConfigError(f"{n} workers x {threads} threads exceed the {cpus} CPU cores of the Ray cluster")
        return n, threads
    return n, max(1, cpus // n)


def _run_chunks(ray: Any, spawn: Callable[[], Any], n_workers: int, chunks: deque, out: Path, provenance: dict,
                on_done: Callable[[list[dict]], None]) -> tuple[list[str], float | None]:
    """Run every chunk on ``n_workers`` actors made by ``spawn``; returns (worker names, time first ready).

    An actor gets work as soon as it holds the model (no waiting for all: a cluster may still be scaling up,
    and an actor that can never be placed just never gets any) and is kept two chunks ahead, so the next one
    starts without a round trip to the driver. A worker process that dies is replaced by a fresh one, and the
    chunk it took along is retried case by case, so only the culprit case is recorded as failed.
    """
    actors: list[Any] = []
    starting: dict[Any, Any] = {}  # ready() ping -> actor
    live: list[Any] = []
    dead: set[Any] = set()
    inflight: dict[Any, tuple[Any, list[CaseRef]]] = {}
    load: Counter = Counter()
    names: list[str] = []
    first_ready: float | None = None

    def start() -> None:
        actor = spawn()
        actors.append(actor)
        starting[actor.ready.remote()] = actor

    def fill() -> None:
        for actor in live:
            while chunks and load[actor] < 2 and actor not in dead:
                chunk = chunks.popleft()
                inflight[actor.run.remote(chunk)] = (actor, chunk)
                load[actor] += 1

    for _ in range(n_workers):
        start()
    try:
        while inflight or (chunks and starting):
            [ref], _ = ray.wait([*inflight, *starting], num_returns=1)
            if ref in starting:
                actor = starting.pop(ref)
                try:
                    names.append(ray.get(ref))
                except ray.exceptions.RayError as exc:  # its constructor failed, e.g. cmrseg missing on a node
                    if not live and not starting:
                        raise RuntimeError(f"no cohort worker could start: {exc}") from exc
                    log.warning("a cohort worker failed to start: %s", exc)
                    continue
                first_ready = first_ready or time.perf_counter()
                live.append(actor)
                fill()
                continue
            actor, chunk = inflight.pop(ref)
            load[actor] -= 1
            by_driver = True  # failure records made here, not by a worker, are written here
            try:
                records = ray.get(ref)
                by_driver = False
            except ray.exceptions.RayActorError as exc:  # the process died (crash, out of memory)
                if actor not in dead:
                    dead.add(actor)
                    live.remove(actor)
                    start()
                if len(chunk) > 1:
                    chunks.extendleft([[r] for r in reversed(chunk)])
                    records = []
                else:
                    records = [failed_record(chunk[0], f"the worker process died on this case ({type(exc).__name__})"
                                             "; the file may crash a reader or need more memory", provenance)]
            except ray.exceptions.RayError as exc:  # an error outside the per-case isolation: fail the chunk
                records = [failed_record(r, f"worker error: {exc}", provenance) for r in chunk]
            for rec in records if by_driver else ():
                write_record(out / RECORDS_DIR, rec)
            on_done(records)
            fill()
    finally:
        for actor in actors:
            ray.kill(actor)
    if chunks:
        raise RuntimeError("every cohort worker failed to start or died; see the warnings above")
    return names, first_ready


def build_tables(records: Sequence[dict], limits: QCLimits = QCLimits()) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(results, subjects)``: one row per volume, and one per subject with ED/ES phases.

    Subjects: LV/RV EDV, ESV, SV, EF and LV mass from the ED and ES volumes (``clinical_from_volumes``), QC
    flags (:func:`subject_flags`; ``missing_ED``/``missing_ES`` when a phase is absent or failed,
    ``several_ED``/``several_ES`` when ambiguous, the first is used), and ``qc_ok`` = no subject flag and
    both volumes passed their own QC.
    """
    from cmrseg.metrics.clinical import CLINICAL_INDICES, clinical_from_volumes

    results = pd.DataFrame(list(records), columns=list(RESULT_COLUMNS))
    inferred = _phases_from_lv_volume(results)
    rows = []
    paired = set(results.loc[results["phase"].isin(["ED", "ES"]), "patient"])
    for patient, group in results[results["phase"].isin(["ED", "ES"])].groupby("patient", sort=False):
        row: dict[str, Any] = {"patient": patient, **{k: math.nan for k in CLINICAL_INDICES}}
        flags, volumes = [], {}
        for phase in ("ED", "ES"):
            ok = group[(group["phase"] == phase) & (group["status"] == "ok")]
            row[f"{phase}_case"] = ok["case_id"].iloc[0] if len(ok) else None
            if len(ok) == 0:
                flags.append(f"missing_{phase}")
                continue
            if len(ok) > 1:
                flags.append(f"several_{phase}")
            volumes[phase] = ok.iloc[0]
        notes = ""
        if len(volumes) == 2:
            ed, es = ({s: float(v[f"{s}_ml"]) for s in ("LV", "Myo", "RV")} for v in (volumes["ED"], volumes["ES"]))
            indices = clinical_from_volumes(ed, es)
            notes = str(indices.pop("notes"))
            row.update({k: round(float(v), 3) for k, v in indices.items()})
            flags += subject_flags(indices, limits)
        vols_ok = len(volumes) == 2 and all(bool(v["qc_ok"]) for v in volumes.values())
        first = group.iloc[0]
        row.update(notes=notes, qc_flags=";".join(flags), qc_ok=not flags and vols_ok,
                   checkpoint_sha256=first["checkpoint_sha256"], cmrseg_version=first["cmrseg_version"],
                   phases_from=("LV volume: the larger predicted LV blood pool of the subject's two volumes = ED"
                                if patient in inferred else "given (ED/ES phase of the cases)"))
        rows.append(row)
    rows += _cine_subjects(results[~results["patient"].isin(paired)], limits)
    columns = ["patient", "ED_case", "ES_case", *CLINICAL_INDICES, *CINE_RATE_COLUMNS, "rate_unit", "phases_from",
               "qc_flags", "qc_ok", "notes", "checkpoint_sha256", "cmrseg_version"]
    return results, pd.DataFrame(rows, columns=columns)


CINE_RATE_COLUMNS = ("LV_peak_ejection_rate", "LV_peak_filling_rate", "RV_peak_ejection_rate", "RV_peak_filling_rate")


def _phases_from_lv_volume(results: pd.DataFrame) -> set[str]:
    """Give ED/ES to subjects with exactly two segmented 3D volumes and no phase (e.g. an ACDC-style folder without
    patients.csv or Info.cfg): the larger predicted LV blood pool is ED. Returns those subjects."""
    done: set[str] = set()
    loose = results[results["phase"].isna() & results["frame"].isna() & (results["status"] == "ok")]
    for patient, group in loose.groupby("patient", sort=False):
        if len(group) != 2 or patient in set(results.loc[results["phase"].notna(), "patient"]):
            continue
        lv = group["LV_ml"].astype(float)
        if lv.iloc[0] == lv.iloc[1]:
            continue
        ed = lv.idxmax()
        results.loc[group.index, "phase"] = ["ED" if i == ed else "ES" for i in group.index]
        done.add(str(patient))
    return done


def _cine_reports(results: pd.DataFrame, limits: QCLimits,
                  given: bool) -> Iterator[tuple[str, Any, dict, pd.DataFrame]]:
    """``(patient, curve, report, ok frames)`` of every subject segmented at >= 3 frames of a cine (2 of them ok).

    The report is :func:`cmrseg.metrics.cine.cine_report` of the LV volume curve over the frames (rates per second
    when every frame has its time, else per frame); ``qc_flags`` add ``missing_frames`` (a failed frame: measured
    on those it has) and the subject flags (:func:`subject_flags`). ``given``: ED/ES from the frames' own phases
    where two of them are ED and ES (e.g. from Info.cfg), else always from the curve.
    """
    from cmrseg.metrics.cine import cine_report, curve_from_volumes

    frames = results[results["frame"].notna()]
    for patient, group in frames.groupby("patient", sort=False):
        ok = group[group["status"] == "ok"].sort_values("frame")
        if group["frame"].nunique() < 3 or len(ok) < 2:
            continue
        t = ok["frame"].astype(int).to_numpy() - 1
        n = int(group["frame"].max())
        timed = group.drop_duplicates("frame").sort_values("frame")
        times = timed["time_ms"].astype(float).to_numpy() if "time_ms" in group and len(timed) == n and \
            timed["time_ms"].notna().all() else None
        curve = curve_from_volumes(t, {k: ok[f"{k}_ml"].astype(float).to_numpy() for k in ("LV", "Myo", "RV")}, n,
                                   times)
        phases = {p: ok.loc[ok["phase"] == p, "frame"] for p in ("ED", "ES")} if "phase" in ok else {}
        if given and phases and all(len(v) == 1 for v in phases.values()):
            ed, es = (int(phases[p].iloc[0]) - 1 for p in ("ED", "ES"))
            rep = cine_report(curve, ed, es, "given (ED/ES phase of the frames)")
        else:
            rep = cine_report(curve)
        flags = list(rep["qc_flags"]) + (["missing_frames"] if len(ok) < len(group) else [])
        flags += subject_flags({k: rep[k] if rep[k] is not None else math.nan for k in ("LV_EF_pct", "RV_EF_pct",
                                                                                          "LV_EDV_ml", "RV_EDV_ml")},
                               limits)
        rep["qc_flags"] = flags
        yield str(patient), curve, rep, ok


def _cine_subjects(results: pd.DataFrame, limits: QCLimits) -> list[dict]:
    """Subject rows of cines without given ED/ES: ED/ES from each subject's LV volume curve over its frames, with
    the cine QC flags (:func:`_cine_reports`)."""
    from cmrseg.metrics.clinical import CLINICAL_INDICES

    rows = []
    for patient, _, rep, ok in _cine_reports(results, limits, given=False):
        by_t = dict(zip(ok["frame"].astype(int).to_numpy() - 1, ok["case_id"]))
        first = ok.iloc[0]
        flags = rep["qc_flags"]
        rows.append({"patient": patient, "ED_case": by_t[rep["ED"]["time_index"]],
                     "ES_case": by_t[rep["ES"]["time_index"]],
                     **{k: math.nan if rep[k] is None else rep[k] for k in (*CLINICAL_INDICES, *CINE_RATE_COLUMNS)},
                     "rate_unit": rep["rate_unit"], "phases_from": rep["ED"]["how"], "qc_flags": ";".join(flags),
                     "qc_ok": not flags and bool(ok["qc_ok"].astype(bool).all()), "notes": "; ".join(rep["notes"]),
                     "checkpoint_sha256": first["checkpoint_sha256"], "cmrseg_version": first["cmrseg_version"]})
    return rows


def write_cine_curves(out: Path, results: pd.DataFrame, limits: QCLimits = QCLimits()) -> list[Path]:
    """For every subject segmented over a cine, ``out/curves/<patient>_volumes.csv``, ``_volumes.png`` and
    ``_clinical.json``, as ``cmrseg predict`` writes beside a cine (:mod:`cmrseg.metrics.cine`); ``cmrseg report
    OUT`` shows them. ED/ES: the frames' given phases, else the LV curve's extremes. Returns the files written."""
    from cmrseg.metrics.cine import plot_curve, write_curve_csv, write_report_json

    written: list[Path] = []
    for patient, curve, rep, ok in _cine_reports(results, limits, given=True):
        folder = out / CURVES_DIR
        folder.mkdir(parents=True, exist_ok=True)
        stem = folder / re.sub(r"[^A-Za-z0-9._-]", "_", patient)
        rep = {"subject": patient, "input": str(ok["image"].iloc[0]),
               "source": "cmrseg cohort (per-frame volumes of results.csv)", **rep}
        ed, es = rep["ED"]["time_index"], rep["ES"]["time_index"]
        written += [write_curve_csv(curve, f"{stem}_volumes.csv", ed, es),
                    plot_curve(curve, f"{stem}_volumes.png", rep, title=f"{patient}: volume over the cardiac cycle"),
                    write_report_json(rep, f"{stem}_clinical.json")]
    return written


def write_tables(out: Path, results: pd.DataFrame, subjects: pd.DataFrame) -> tuple[Path, Path]:
    """``results.csv/.parquet`` and ``subjects.csv/.parquet`` in ``out``, each written atomically."""
    for name, table in (("results", results), ("subjects", subjects)):
        _atomic_write(out / f"{name}.csv", lambda tmp, t=table: t.to_csv(tmp, index=False, encoding="utf-8"))
        _atomic_write(out / f"{name}.parquet", lambda tmp, t=table: t.to_parquet(tmp, index=False))
    return out / "results.csv", out / "subjects.csv"


def run_cohort(input: str | Path | Sequence[CaseRef], output: str | Path, checkpoint: str | Path, *,
               data_roots: Sequence[str | Path] = (), layout: str | None = None, workers: int | None = None,
               chunk: int = 4, slice_batch: int | None = None, postprocess: bool = True,
               address: str | None = None, limits: QCLimits = QCLimits(), progress: bool = True,
               threads_per_worker: int | None = None) -> CohortSummary:
    """Segment every case of a cohort on Ray; resumable, with per-case failures recorded, not raised.

    Args:
        input: dataset folder (any layout, or a tree of NIfTI files / DICOM series), manifest ``.csv``, or
            the :class:`CaseRef` list itself (e.g. ``load_dataset(root)`` filtered).
        output: folder for ``labels/``, ``records/``, ``results.{csv,parquet}``, ``subjects.{csv,parquet}``.
        checkpoint: a cmrseg checkpoint; its SHA-256 goes into every row, and a resumed run only skips cases
            done with the same checkpoint (and the same ``postprocess``).
        data_roots: folders every case file must lie in (see :func:`read_manifest`).
        workers: model replicas (default: one per cluster CPU); each gets CPUs // workers torch threads.
        threads_per_worker: fix the torch threads per worker instead (workers x threads <= CPUs).
        chunk: cases per request to a worker; their slices share network batches.
        slice_batch: slices per network batch (default: :class:`Predictor`'s, the fastest on CPU).
        address: Ray cluster to join (``"auto"``, ``"ray://head:10001"``); ``None`` starts Ray locally. An
            already open Ray connection is used as it is (and left open).

    Raises:
        InputError / ConfigError: unusable input listing, manifest, checkpoint or options (nothing is run).
    """
    from cmrseg.checkpoint import load_checkpoint
    from cmrseg.inference.predictor import Predictor

    from cmrseg.io.outputs import prepare_output_dir

    out = prepare_output_dir(output, "cohort output folder")
    if chunk < 1:
        raise ConfigError(f"chunk must be >= 1, got {chunk}")
    if isinstance(input, (str, Path)):
        refs = list_cohort(input, data_roots, layout)
    else:
        refs = finalize_refs(list(input), out)
        for ref in refs:
            _check_case_id(ref.case_id, out)
        if data_roots:
            _check_roots(refs, [Path(r).resolve() for r in data_roots], out)
    ckpt = load_checkpoint(checkpoint)
    slim = {k: ckpt[k] for k in ("format", "model_state", "config")}  # no optimiser state to ship around
    Predictor.from_checkpoint(slim)  # fail here, before starting Ray, if the model cannot be built
    provenance = {"postprocess": postprocess, "checkpoint": str(checkpoint),
                  "checkpoint_sha256": file_sha256(checkpoint), "checkpoint_iteration": ckpt.get("iteration"),
                  "cmrseg_version": __version__}
    (out / LABELS_DIR).mkdir(parents=True, exist_ok=True)
    (out / RECORDS_DIR).mkdir(parents=True, exist_ok=True)
    if n := remove_temp_files(out):
        log.info("removed %d temporary file(s) left by an interrupted run", n)

    records = {ref.case_id: read_record(out / RECORDS_DIR / f"{ref.case_id}.json") for ref in refs}
    todo = [ref for ref in refs if not _is_done(records[ref.case_id], ref, out, provenance)]
    summary = CohortSummary(len(refs), len(refs) - len(todo), len(todo), [], out / "results.csv",
                            out / "subjects.csv")
    if todo:
        chunks = deque(todo[i : i + chunk] for i in range(0, len(todo), chunk))
        with _ray_session(address) as ray:
            n, threads = plan_workers(int(ray.cluster_resources().get("CPU", 1)), workers, len(chunks),
                                      threads_per_worker)
            t0 = time.perf_counter()
            args = (ray.put(slim), threads, str(out), provenance, postprocess, slice_batch, limits)
            actor_cls = ray.remote(CohortWorker).options(num_cpus=threads, max_restarts=0)
            bar = tqdm(total=len(todo), desc="cohort", unit="vol", disable=not progress, dynamic_ncols=True)

            def on_done(recs: list[dict]) -> None:
                for rec in recs:
                    records[rec["case_id"]] = rec
                bar.update(len(recs))

            try:
                names, first = _run_chunks(ray, lambda: actor_cls.remote(*args), n, chunks, out, provenance, on_done)
            finally:
                bar.close()
            t1 = first or t0
            summary.worker_names, summary.workers, summary.threads = names, min(n, len(names)), threads
            summary.seconds_startup, summary.seconds_processing = t1 - t0, time.perf_counter() - t1
    final = [records[ref.case_id] or failed_record(ref, "no record", provenance) for ref in refs]
    summary.failed = [(r["case_id"], r["error"]) for r in final if r["status"] != "ok"]
    results, subjects = build_tables(final, limits)
    write_tables(out, results, subjects)
    write_cine_curves(out, results, limits)
    return summary
