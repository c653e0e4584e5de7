"""Synthetic short-axis cine bSSFP phantoms with known labels, volumes and ejection fraction.

Why: ``make demo`` and the tests need realistic-looking cardiac volumes on a machine without real data, with
answers known exactly (label maps, ED/ES volumes, EF).

Model (all geometry in mm, continuous in z):

* LV: a truncated half-ellipsoid shell. Cross-sections are ellipses with a small Fourier wobble; the cavity
  (endocardium) sits inside the epicardium, wall ~8-11 mm at ED, with an apical cap so the last slice may
  show myocardium only. Two papillary muscles (dark, labelled LV as in ACDC) sit inside the cavity.
* RV: an ellipse on the septal side cut by the LV epicardium, i.e. a crescent that touches the myocardium,
  never the LV cavity, and narrows to nothing before the apex. A thin dark free wall surrounds it.
* ES: the cavity contracts radially and shortens towards the base; the myocardial volume is conserved, so the
  wall thickens. ED and ES share pose and anatomy, so EF is defined and known.
* Appearance: bright blood, dark-grey myocardium, a body with bright subcutaneous fat, chest-wall muscle,
  dark lungs, liver and random blobs, epicardial fat, smooth texture, a multiplicative bias field, anti-aliased
  edges (in-plane partial volume), three sub-slices per slice (through-plane partial volume), PSF blur, Rician
  noise; rescaled per volume to [0, 1] by percentiles like our ACDC copy.

A cine (:func:`make_cine_phantom`, :func:`write_cine_phantom`) renders the same anatomy at every phase of a
cycle: the contraction runs smoothly from ED (frame 0, largest LV) to ES (one smallest LV) and back, so the
volume curve, ED/ES and EF are known.

Example:
    >>> ed, es = make_phantom_pair(seed=0, patient="phantom001")
    >>> ed.meta["lv_ef"]  # from voxel counts of the two label maps
    >>> cine = make_cine_phantom(seed=0, n_frames=20)  # cine.label[t], cine.volumes_ml["LV"][t], cine.es
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage

from cmrseg.data.case import Case
from cmrseg.io.nifti import write_nifti
from cmrseg.labels import LV, MYO, RV, UNANNOTATED

PHASES = ("ED", "ES")
GROUP = "PHANTOM"
CSV_COLUMNS = ("patient", "split", "group", "ed_frame", "es_frame", "spacing_x_mm", "spacing_y_mm", "spacing_z_mm")
_SUBSLICES = (-1 / 3, 0.0, 1 / 3)  # fractions of the slice thickness averaged for through-plane partial volume


@dataclass(frozen=True, eq=False)
class PhantomAnatomy:
    """Everything random about one phantom patient; shared by its ED and ES frames.

    Heart-frame coordinates ``(u, v)`` are image ``(x, y)`` in mm relative to the LV axis, rotated by ``angle``.
    Depth ``s`` runs along the long axis from the base plane (``z_base``) towards the apex.
    """

    shape: tuple[int, int, int]
    spacing: tuple[float, float, float]
    centre: tuple[float, float]  # LV axis at slice 0, (y, x) mm from the FOV centre
    drift: tuple[float, float]  # axis shift (y, x) per mm of z: the long axis is not quite normal to the slices
    angle: float  # in-plane rotation of the heart (rad)
    r_endo: float  # ED cavity semi-major axis at the equator (mm)
    ratio: float  # minor/major axis ratio of the LV cross-section
    wobble: np.ndarray  # (surface endo/epi, harmonic 2/3, cos/sin) relative radius perturbation
    thickness: float  # ED wall thickness at the equator (mm)
    z_base: float  # base plane position (mm; slice k is at k * sz)
    l_cavity: float  # ED base-to-apex cavity length (mm)
    cap: float  # extra length of the epicardium beyond the cavity apex (mm)
    f_radial: float  # ES/ED cavity radius
    f_long: float  # ES/ED cavity length
    rv_dir: float  # direction of the RV from the LV axis in the heart frame (rad)
    rv_width: float  # ED crescent width at the base (mm)
    rv_tangential: float  # ED crescent semi-extent around the LV, relative to the epicardial radius
    rv_radial: float  # RV ellipse radial semi-axis relative to the epicardial radius
    rv_length: float  # depth at which the RV vanishes (mm)
    rv_f_width: float  # ES/ED crescent width
    rv_f_tangential: float  # ES/ED crescent extent
    papillary: tuple[float, float, float]  # angle of the two muscles (rad, heart frame), separation, radius (mm)
    fat_arc: tuple[float, float, float]  # epicardial fat: centre angle, half-width (rad), thickness (mm)
    intensity: dict[str, float]
    body: tuple[float, float, float, float, float, float, float]  # cy, cx, semi-y, semi-x, angle, fat, muscle
    blobs: tuple[tuple[float, ...], ...]  # (cy, cx, semi-y, semi-x, angle, intensity, dz-growth) background
    texture: tuple[np.ndarray, ...]  # low-resolution (z, n, n) random fields: coarse and fine tissue texture
    bias: np.ndarray  # coefficients of a quadratic log bias field in (y, x) plus linear in z
    noise: float  # Rician noise sigma relative to LV blood
    psf: float  # in-plane Gaussian blur (pixels)
    ed_frame: int
    es_frame: int
    seeds: tuple[int, int]  # noise/scribble seeds for ED and ES


def sample_anatomy(
    rng: np.random.Generator,
    n_slices: int | None = None,
    shape: tuple[int, int, int] | None = None,
    spacing: tuple[float, float, float] | None = None,
) -> PhantomAnatomy:
    """Draw one phantom patient. Unset grid arguments are random in ACDC-like ranges.

    Args:
        rng: random generator (consumed).
        n_slices: number of slices (8-12 when unset); must equal ``shape[0]`` if both are given.
        shape: ``(z, y, x)``; default ``(n_slices, 160..224, 160..224)``.
        spacing: ``(sz, sy, sx)`` mm; default ``(8..10, s, s)`` with ``s`` in 1.3..1.8.
    """
    if shape is not None and n_slices is not None and shape[0] != n_slices:
        raise ValueError(f"n_slices={n_slices} disagrees with shape (z, y, x) = {shape}")
    u = rng.uniform
    nz = int(shape[0]) if shape is not None else int(n_slices or rng.integers(8, 13))
    if shape is None:
        shape = (nz, int(rng.integers(160, 225)), int(rng.integers(160, 225)))
    if spacing is None:
        s = round(float(u(1.3, 1.8)), 4)
        spacing = (float(rng.choice([8.0, 9.0, 10.0])), s, s)
    shape = tuple(int(v) for v in shape)  # type: ignore[assignment]
    spacing = tuple(float(v) for v in spacing)  # type: ignore[assignment]
    if len(shape) != 3 or min(shape) < 1 or len(spacing) != 3 or min(spacing) <= 0:
        raise ValueError(f"bad phantom grid: shape (z, y, x) = {shape}, spacing (z, y, x) = {spacing} mm")
    sz, sy, sx = spacing

    scale = u(0.85, 1.15)
    r_endo, thickness = u(23.0, 29.0) * scale, u(7.5, 10.0)
    z_base = -u(0.2, 0.6) * sz
    depth_last = (nz - 1) * sz - z_base  # depth of the last slice centre
    l_cavity = depth_last * u(0.93, 1.03) if nz > 1 else 4 * sz
    ef, f_long = u(0.42, 0.62), u(0.86, 0.94)
    r_epi = r_endo + thickness
    # Keep the heart (LV + RV, about 1.8 epicardial radii) inside the field of view, whatever the drift.
    half_fov = np.array(shape[1:]) * np.array([sy, sx]) / 2
    drift = u(-0.06, 0.06, size=2)
    room = np.maximum(half_fov - 1.9 * r_epi - 10 - np.abs(drift) * (nz - 1) * sz, 0)
    centre = u(-1, 1, size=2) * np.minimum(room, 0.1 * 2 * half_fov)
    centre -= drift * (nz - 1) * sz / 2  # drift around the FOV centre, not away from it

    lv_blood = u(0.9, 1.1)
    intensity = {
        "lv": lv_blood, "rv": lv_blood * u(0.8, 0.95), "myo": u(0.2, 0.3), "tissue": u(0.3, 0.45),
        "muscle": u(0.18, 0.28), "fat": u(0.75, 1.0), "epi_fat": u(0.6, 0.85), "lung": u(0.02, 0.07),
        "liver": u(0.28, 0.42),
    }
    angle = u(-0.6, 0.6)
    # Body: the heart lies anterior-left in the chest, so the body centre is below-left of it in the image.
    body = (centre[0] + u(30, 60), centre[1] + u(-50, -10), u(130, 160), u(175, 215), u(-0.15, 0.15),
            u(6, 14), u(6, 12))
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])

    def around(dist: float, direction: float) -> tuple[float, float]:
        x, y = rot @ np.array([np.cos(direction), np.sin(direction)]) * dist
        return centre[0] + y, centre[1] + x

    size = u(10, 13)  # descending aorta: bright, round, posterior-medial; then random vessels and organs
    blobs = [(*around(r_epi * 1.6 + u(10, 25), np.pi / 2 + u(-0.6, 0.2)), size, size, 0.0, lv_blood * u(0.8, 1), 0.0)]
    for _ in range(int(rng.integers(5, 12))):
        size = u(4, 22)
        blobs.append((*around(r_epi * 1.9 + u(10, 90), u(0, 2 * np.pi)), size, size * u(0.4, 1.3),
                      u(0, np.pi), u(0.1, 0.95), u(-0.3, 0.3)))
    blobs += [  # painted last: lungs lateral and anterior to the heart, liver below the RV
        (*around(r_epi * 1.7 + u(20, 40), u(-0.5, 0.3)), u(45, 70), u(30, 45), u(-0.5, 0.5), intensity["lung"], 0.2),
        (*around(r_epi * 2.2 + u(25, 40), np.pi + u(-0.8, -0.3)), u(30, 50), u(25, 35), u(-0.5, 0.5),
         intensity["lung"], -0.2),
        (*around(r_epi * 2.0 + u(30, 45), np.pi / 2 + u(0.2, 0.8)), u(40, 60), u(60, 90), u(-0.3, 0.3),
         intensity["liver"], 0.3),
    ]
    # Smooth mottled tissue texture: coarse and fine low-resolution random fields, upsampled when rendering.
    texture = (rng.normal(0, u(0.04, 0.08), (nz, 5, 5)), rng.normal(0, u(0.03, 0.06), (nz, 16, 16)))
    return PhantomAnatomy(
        shape=shape, spacing=spacing, centre=(float(centre[0]), float(centre[1])),  # type: ignore[arg-type]
        drift=(float(drift[0]), float(drift[1])), angle=angle, r_endo=r_endo, ratio=u(0.85, 0.97),
        wobble=u(-0.03, 0.03, size=(2, 2, 2)), thickness=thickness, z_base=z_base, l_cavity=l_cavity,
        cap=u(6.0, 9.0), f_radial=float(np.sqrt((1 - ef) / f_long)), f_long=f_long, rv_dir=np.pi + u(-0.35, 0.15),
        rv_width=u(24.0, 34.0) * scale, rv_tangential=u(1.25, 1.5), rv_radial=u(0.75, 0.95),
        rv_length=l_cavity * u(0.75, 0.9), rv_f_width=u(0.45, 0.6), rv_f_tangential=u(0.85, 0.95),
        papillary=(u(-0.5, 0.5), u(0.9, 1.3), u(2.5, 4.0)), fat_arc=(u(0, 2 * np.pi), u(0.4, 1.0), u(2.0, 5.0)),
        intensity=intensity, body=body, blobs=tuple(blobs), texture=texture,
        bias=u(-0.25, 0.25, size=6), noise=u(0.02, 0.05), psf=u(0.4, 0.8),
        ed_frame=1, es_frame=int(rng.integers(10, 15)), seeds=tuple(int(v) for v in rng.integers(0, 2**31, 2)),
    )


def make_phantom_case(
    rng_or_seed: np.random.Generator | int = 0,
    phase: str = "ED",
    patient: str = "phantom001",
    n_slices: int | None = None,
    shape: tuple[int, int, int] | None = None,
    spacing: tuple[float, float, float] | None = None,
) -> Case:
    """One synthetic cine frame with label and scribble. The same int seed gives the frames of
    :func:`make_phantom_pair`, so ``make_phantom_case(s, "ES")`` is the ES partner of ``make_phantom_case(s)``.

    Args:
        rng_or_seed: seed or generator (a generator is consumed).
        phase: ``"ED"`` or ``"ES"``.
        patient: patient id; the case id is ``f"{patient}_frame{NN:02d}"``.
        n_slices, shape, spacing: grid, see :func:`sample_anatomy`.
    """
    if phase not in PHASES:
        raise ValueError(f"phase must be one of {PHASES}, got {phase!r}")
    anatomy = sample_anatomy(np.random.default_rng(rng_or_seed), n_slices, shape, spacing)
    return render_phantom(anatomy, phase, patient)


def make_phantom_pair(seed: int | np.random.Generator = 0, patient: str = "phantom001") -> tuple[Case, Case]:
    """ED and ES frames of one phantom patient with identical pose and anatomy (only contraction differs).

    Both cases' ``meta`` hold ``volumes_ml`` (voxel counts of their own label, per structure), the analytic
    disc-summation ``analytic_volumes_ml`` (LV, Myo), and the pair's ``lv_ef``/``rv_ef`` (voxel counts) and
    ``lv_ef_analytic``; ``ed_volumes_ml``/``es_volumes_ml`` repeat both frames' volumes.
    """
    ed, es = _render(sample_anatomy(np.random.default_rng(seed)), PHASES, patient)
    ved, ves = ed.meta["volumes_ml"], es.meta["volumes_ml"]
    aed, aes = ed.meta["analytic_volumes_ml"]["LV"], es.meta["analytic_volumes_ml"]["LV"]
    pair = {
        "lv_ef": _ef(ved["LV"], ves["LV"]), "rv_ef": _ef(ved["RV"], ves["RV"]), "lv_ef_analytic": _ef(aed, aes),
        "ed_volumes_ml": dict(ved), "es_volumes_ml": dict(ves),
    }
    ed.meta.update(pair)
    es.meta.update(pair)
    return ed, es


def write_phantom_dataset(root: str | Path, n_patients: int = 12, n_val: int = 3, seed: int = 0) -> Path:
    """Write an ACDC-copy-like phantom dataset that the ACDC reader reads unchanged.

    Layout: ``root/patientXXX/patientXXX_frameYY{,_gt,_scribble}.nii.gz`` from ``patient001`` on, and
    ``root/patients.csv`` (columns :data:`CSV_COLUMNS`; the last ``n_val`` patients are ``val``, group
    ``PHANTOM``). Returns ``root``.
    """
    if n_patients < 1 or not 0 <= n_val <= n_patients:
        raise ValueError(f"need n_patients >= 1 and 0 <= n_val <= n_patients, got {n_patients}, {n_val}")
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n_patients):
        patient = f"patient{i + 1:03d}"
        pseed = int(np.random.SeedSequence([seed, i]).generate_state(1)[0])
        cases = make_phantom_pair(pseed, patient)
        for case in cases:
            stem = root / patient / case.case_id
            write_nifti(case.image, case.affine, f"{stem}.nii.gz")
            write_nifti(case.label, case.affine, f"{stem}_gt.nii.gz")
            write_nifti(case.scribble, case.affine, f"{stem}_scribble.nii.gz")
        sz, sy, sx = cases[0].spacing
        split = "val" if i >= n_patients - n_val else "train"
        rows.append([patient, split, GROUP, cases[0].frame, cases[1].frame, f"{sx:.4f}", f"{sy:.4f}", f"{sz:.4f}"])
    with open(root / "patients.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(CSV_COLUMNS)
        writer.writerows(rows)
    return root


@dataclass
class CinePhantom:
    """A whole synthetic cardiac cycle with its truth.

    Attributes:
        image, label: ``(t, z, y, x)`` float32 image and uint8 label map (cmrseg codes).
        spacing: ``(sz, sy, sx)`` mm; ``affine``: the NIfTI affine written.
        frame_ms: time between frames (ms); ``ed``, ``es``: 0-based time indices of the largest and smallest LV.
        contraction: per frame, 0 (ED) .. 1 (ES).
        volumes_ml: ``{"LV", "Myo", "RV"}`` -> mL per frame, from the label voxel counts.
        analytic_volumes_ml: ``{"LV", "Myo"}`` -> mL per frame, exact cross-section areas x slice thickness.
    """

    image: np.ndarray
    label: np.ndarray
    spacing: tuple[float, float, float]
    affine: np.ndarray
    frame_ms: float
    ed: int
    es: int
    contraction: np.ndarray
    volumes_ml: dict[str, np.ndarray]
    analytic_volumes_ml: dict[str, np.ndarray]

    def truth(self) -> dict:
        """JSON-ready known answers: ED/ES, per-frame volumes, LV/RV EF (%) from voxels, LV EF from the analytic
        volumes, LV mass at ED (g, voxels x 1.05 g/mL)."""
        v, a = self.volumes_ml, self.analytic_volumes_ml

        def ef(x: np.ndarray) -> float:
            return 100.0 * float(x[self.ed] - x[self.es]) / float(x[self.ed])

        return {"ed_time_index": self.ed, "es_time_index": self.es, "frame_ms": self.frame_ms,
                "LV_EF_pct": ef(v["LV"]), "RV_EF_pct": ef(v["RV"]), "LV_EF_pct_analytic": ef(a["LV"]),
                "LV_mass_g": float(v["Myo"][self.ed]) * 1.05,
                "volumes_ml": {k: [round(float(x), 4) for x in arr] for k, arr in v.items()},
                "analytic_volumes_ml": {k: [round(float(x), 4) for x in arr] for k, arr in a.items()}}


def cycle_contraction(n_frames: int, es: int) -> np.ndarray:
    """Contraction over one cycle starting at ED: 0 at frame 0, 1 at ``es`` only (raised cosine down), then a
    raised cosine back towards 0 at the next cycle's ED, so frame 0 is the one largest and ``es`` the one
    smallest LV."""
    if not 0 < es < n_frames - 1:
        raise ValueError(f"ES frame {es} must lie strictly inside 1..{n_frames - 2}")
    t = np.arange(n_frames, dtype=float)
    systole = (1 - np.cos(np.pi * t / es)) / 2
    diastole = (1 + np.cos(np.pi * (t - es) / (n_frames - es))) / 2
    return np.where(t <= es, systole, diastole)


def make_cine_phantom(seed: int = 0, n_frames: int = 20, rr_ms: float = 800.0,
                      shape: tuple[int, int, int] | None = None,
                      spacing: tuple[float, float, float] | None = None) -> CinePhantom:
    """Render ``n_frames`` phases of one phantom patient over a cardiac cycle (ED at frame 0, ES at about a
    third of the cycle as the patient's ACDC-like ES frame puts it), noise drawn afresh for every frame.

    Args:
        seed: the patient (same anatomy as ``make_phantom_pair(seed)``).
        n_frames: frames per cycle (>= 4).
        rr_ms: cycle length; frames are ``rr_ms / n_frames`` apart.
        shape, spacing: grid, see :func:`sample_anatomy`.
    """
    if n_frames < 4:
        raise ValueError(f"a cine phantom needs at least 4 frames, got {n_frames}")
    a = sample_anatomy(np.random.default_rng(seed), None, shape, spacing)
    es = int(np.clip(round(n_frames * (a.es_frame - 1) / 30), 1, n_frames - 2))  # ACDC cines have ~30 frames
    contraction = cycle_contraction(n_frames, es)
    background, y, x = _chest(a)
    seeds = np.random.SeedSequence([a.seeds[0], n_frames]).generate_state(n_frames)
    cases = [_render_frame(a, float(c), int(seeds[t]), t + 1, "ED" if t == 0 else "ES" if t == es else None,
                           "cine", background, y, x) for t, c in enumerate(contraction)]
    names = ("LV", "Myo", "RV")
    return CinePhantom(
        image=np.stack([c.image for c in cases]), label=np.stack([c.label for c in cases]), spacing=a.spacing,
        affine=cases[0].affine, frame_ms=float(rr_ms) / n_frames, ed=0, es=es, contraction=contraction,
        volumes_ml={k: np.array([c.meta["volumes_ml"][k] for c in cases]) for k in names},
        analytic_volumes_ml={k: np.array([c.meta["analytic_volumes_ml"][k] for c in cases]) for k in names[:2]})


def write_cine_phantom(folder: str | Path, seed: int = 0, n_frames: int = 20, name: str = "phantom001",
                       **kw) -> tuple[Path, Path, CinePhantom]:  # type: ignore[no-untyped-def]
    """Write :func:`make_cine_phantom` as ``<name>_4d.nii.gz`` (image) and ``<name>_4d_gt.nii.gz`` (labels),
    ACDC's 4D naming, with the frame interval in pixdim[4] (ms) and scanner qform/sform codes (1, 1), plus
    ``<name>_truth.json`` (:meth:`CinePhantom.truth`). Returns ``(image path, label path, phantom)``.

    ``kw``: ``rr_ms``, ``shape``, ``spacing`` of :func:`make_cine_phantom`.
    """
    import json

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    ph = make_cine_phantom(seed, n_frames, **kw)
    image = write_nifti(ph.image, ph.affine, folder / f"{name}_4d.nii.gz", codes=(1, 1), frame_ms=ph.frame_ms)
    label = write_nifti(ph.label, ph.affine, folder / f"{name}_4d_gt.nii.gz", codes=(1, 1), frame_ms=ph.frame_ms)
    (folder / f"{name}_truth.json").write_text(json.dumps(ph.truth(), indent=1), encoding="utf-8")
    return image, label, ph


# ----------------------------------------------------------------------------------------------- geometry


def _ef(edv: float, esv: float) -> float:
    return (edv - esv) / edv if edv > 0 else float("nan")


def _profile(s: np.ndarray | float, length: float, s_eq: float) -> np.ndarray:
    """Radius factor along the long axis: slight taper above the equator ``s_eq``, ellipsoidal below, 0 past
    ``length`` (the apex) and above the base plane."""
    s = np.asarray(s, dtype=np.float64)
    above = 1 - 0.15 * ((s_eq - s) / s_eq) ** 2
    below = np.sqrt(np.clip(1 - ((s - s_eq) / (length - s_eq)) ** 2, 0, None))
    return np.where((s < 0) | (s > length), 0.0, np.where(s < s_eq, above, below))


Phase = str | float  # "ED", "ES", or a contraction in [0, 1] (0 = ED, 1 = ES) for cine frames in between


def _contraction(phase: Phase) -> float:
    """0.0 for ``"ED"``, 1.0 for ``"ES"``, a number in [0, 1] as it is."""
    if isinstance(phase, str):
        return 0.0 if phase == "ED" else 1.0
    return float(phase)


def _factors(a: PhantomAnatomy, phase: Phase) -> tuple[float, float, float, float]:
    """Radial and long-axis cavity factors and RV width / extent factors at a contraction: ED's raised to the
    power ``c`` (so ``c = 1`` gives ES's exactly and the volume falls smoothly in between)."""
    c = _contraction(phase)
    return a.f_radial ** c, a.f_long ** c, a.rv_f_width ** c, a.rv_f_tangential ** c


def _lv_radii(a: PhantomAnatomy, phase: Phase, s: float, c: np.ndarray,
              sn: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Endo- and epicardial radii (mm) at depth ``s`` in directions with cosine ``c`` and sine ``sn``."""
    if _contraction(phase) > 0:  # a contracted depth s came from ED depth s / f_long; radial contraction,
        f_radial, f_long, _, _ = _factors(a, phase)  # conserved wall area
        endo0, epi0 = _lv_radii(a, "ED", s / f_long, c, sn)
        endo = f_radial * endo0
        return endo, np.sqrt(endo ** 2 + (epi0 ** 2 - endo0 ** 2) / f_long)
    ellipse = 1 / np.sqrt(c ** 2 + (sn / a.ratio) ** 2)
    c2, s2, c3, s3 = 2 * c * c - 1, 2 * c * sn, c * (4 * c * c - 3), sn * (3 - 4 * sn * sn)
    w = a.wobble
    endo_w = 1 + w[0, 0, 0] * c2 + w[0, 0, 1] * s2 + w[0, 1, 0] * c3 + w[0, 1, 1] * s3
    epi_w = 1 + w[1, 0, 0] * c2 + w[1, 0, 1] * s2 + w[1, 1, 0] * c3 + w[1, 1, 1] * s3
    s_eq = 0.2 * a.l_cavity
    endo = a.r_endo * _profile(s, a.l_cavity, s_eq) * ellipse * endo_w
    epi = (a.r_endo + a.thickness) * _profile(s, a.l_cavity + a.cap, s_eq) * ellipse * epi_w
    return endo, epi


def _rv_ellipse(a: PhantomAnatomy, phase: Phase, s: float) -> tuple[float, float, float] | None:
    """RV ellipse at depth ``s``: (centre distance from the LV axis, radial, tangential semi-axis), or None."""
    contracted = _contraction(phase) > 0
    _, f_long, f_width, f_tangential = _factors(a, phase)
    s0 = s / f_long if contracted else s
    h = float(np.clip(1 - s0 / a.rv_length, 0, 1)) if s0 >= 0 else 0.0
    width = a.rv_width * h * (f_width if contracted else 1.0)
    if width < 1.0:
        return None
    _, r_epi = _lv_radii(a, phase, s, np.array(np.cos(a.rv_dir)), np.array(np.sin(a.rv_dir)))
    r_epi = float(r_epi)
    if r_epi <= 0:
        return None
    radial = float(np.clip(a.rv_radial * r_epi, width / 2 + 1, r_epi + width / 2 - 1))
    tangential = a.rv_tangential * r_epi * (0.6 + 0.4 * h) * (f_tangential if contracted else 1.0)
    return r_epi + width - radial, radial, max(tangential, radial)


def _ellipse_sdf(y: np.ndarray, x: np.ndarray, cy: float, cx: float, ay: float, ax: float, ang: float) -> np.ndarray:
    """First-order signed distance (mm, negative inside) to an ellipse with semi-axes ``ax`` (rotated x), ``ay``."""
    dx, dy = x - cx, y - cy
    p = dx * np.cos(ang) + dy * np.sin(ang)
    q = -dx * np.sin(ang) + dy * np.cos(ang)
    f = (p / ax) ** 2 + (q / ay) ** 2 - 1
    grad = 2 * np.sqrt((p / ax ** 2) ** 2 + (q / ay ** 2) ** 2) + 1e-6
    return f / grad


def _soft(d: np.ndarray, h: float) -> np.ndarray:
    """Pixel coverage of ``d < 0`` for pixels of size ``h`` mm (linear ramp: in-plane partial volume)."""
    return np.clip(0.5 - d / h, 0.0, 1.0)


def _heart_slice(a: PhantomAnatomy, phase: Phase, z: float, y: np.ndarray, x: np.ndarray, h: float
                 ) -> tuple[list[tuple[np.ndarray, str]], np.ndarray]:
    """Soft layers ``(alpha, intensity key)`` in painting order and the hard label of the heart at ``z``."""
    cy, cx = a.centre[0] + a.drift[0] * z, a.centre[1] + a.drift[1] * z
    ca, sa = np.cos(a.angle), np.sin(a.angle)
    u = (x - cx) * ca + (y - cy) * sa  # heart frame
    v = -(x - cx) * sa + (y - cy) * ca
    rho = np.hypot(u, v) + 1e-9
    c, sn = u / rho, v / rho
    s = z - a.z_base
    endo, epi = _lv_radii(a, phase, s, c, sn)
    d_endo, d_epi = rho - endo, rho - epi
    label = np.zeros(u.shape, np.uint8)
    layers: list[tuple[np.ndarray, str]] = []
    if epi.max() <= 0:
        return layers, label
    f_ang, f_half, f_thick = a.fat_arc  # epicardial fat on an arc, outside the wall
    arc = np.clip((np.cos(np.arctan2(sn, c) - f_ang) - np.cos(f_half)) * 4, 0, 1)
    layers.append((_soft(d_epi - f_thick, h) * arc, "epi_fat"))
    rv = _rv_ellipse(a, phase, s)
    if rv is not None:
        dist, radial, tangential = rv
        d_rv = _ellipse_sdf(v, u, dist * np.sin(a.rv_dir), dist * np.cos(a.rv_dir), tangential, radial, a.rv_dir)
        layers += [(_soft(d_rv - 2.5, h), "myo"), (_soft(d_rv, h), "rv")]  # thin free wall, then blood
        label[d_rv < 0] = RV
    layers.append((_soft(d_epi, h), "myo"))
    label[d_epi < 0] = MYO
    if endo.max() > 0:
        layers.append((_soft(d_endo, h), "lv"))
        label[d_endo < 0] = LV
        p_ang, p_sep, p_rad = a.papillary  # two papillary muscles, mid-cavity only, labelled LV (as in ACDC)
        r_mid = float(endo.mean())
        s0 = s / _factors(a, phase)[1] if _contraction(phase) > 0 else s
        if 0.25 * a.l_cavity < s0 < 0.75 * a.l_cavity and r_mid > 8:
            rad = p_rad * min(1.0, r_mid / 15)
            for ang in (p_ang - p_sep / 2, p_ang + p_sep / 2):
                d_p = np.hypot(u - 0.6 * r_mid * np.cos(ang), v - 0.6 * r_mid * np.sin(ang)) - rad
                layers.append((_soft(d_p, h) * (d_endo < -1), "myo"))
    return layers, label


def _slice_areas(a: PhantomAnatomy, phase: Phase, z: float) -> tuple[float, float]:
    """Exact cavity and wall cross-section areas (mm^2) at ``z``: 1/2 * integral of r^2 over the angle."""
    t = np.linspace(0, 2 * np.pi, 720, endpoint=False)
    endo, epi = _lv_radii(a, phase, z - a.z_base, np.cos(t), np.sin(t))
    cav, outer = np.pi * np.mean(endo ** 2), np.pi * np.mean(epi ** 2)
    return float(cav), float(outer - cav)


# ---------------------------------------------------------------------------------------------- rendering


def _crop(a: PhantomAnatomy, y: np.ndarray, x: np.ndarray, margin: float) -> tuple[slice, slice]:
    """Pixel box holding the heart (plus ``margin`` mm) on every slice."""
    reach = max(1.9 * (a.r_endo + a.thickness), a.r_endo + a.thickness + a.rv_width + 4) + margin
    zs = np.array([0.0, (a.shape[0] - 1) * a.spacing[0]])
    cy, cx = a.centre[0] + a.drift[0] * zs, a.centre[1] + a.drift[1] * zs
    ys = np.nonzero((y[:, 0] > cy.min() - reach) & (y[:, 0] < cy.max() + reach))[0]
    xs = np.nonzero((x[0] > cx.min() - reach) & (x[0] < cx.max() + reach))[0]
    return slice(ys[0], ys[-1] + 1), slice(xs[0], xs[-1] + 1)


def _background(a: PhantomAnatomy, z: float, y: np.ndarray, x: np.ndarray, h: float) -> np.ndarray:
    """Chest around the heart at ``z``: air, body with fat and muscle layers, lungs, liver, blobs."""
    it = a.intensity
    by, bx, ay, ax, ang, fat, muscle = a.body
    d = _ellipse_sdf(y, x, by, bx, ay, ax, ang)
    img = _soft(d, h) * it["fat"]
    img += _soft(d + fat, h) * (it["muscle"] - img)
    img += _soft(d + fat + muscle, h) * (it["tissue"] - img)
    inside = _soft(d + fat + muscle, h)
    grow = z / max(a.shape[0] * a.spacing[0], 1.0)
    for cy, cx, sy_, sx_, bang, val, dz in a.blobs:
        ay, ax = sy_ * (1 + dz * grow), sx_ * (1 + dz * grow)
        reach = max(ay, ax) + h
        rows = np.nonzero(np.abs(y[:, 0] - cy) < reach)[0]
        cols = np.nonzero(np.abs(x[0] - cx) < reach)[0]
        if rows.size == 0 or cols.size == 0:
            continue
        box = slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)  # only where the blob can be
        alpha = _soft(_ellipse_sdf(y[box], x[box], cy, cx, ay, ax, bang), h) * inside[box]
        img[box] += alpha * (val - img[box])
    return img


def _scribble_slice(label: np.ndarray, rng: np.random.Generator, h: float) -> np.ndarray:
    """Thin scribble strokes: medial curves of RV and Myo, an inner loop in the LV, a loop around the heart."""
    out = np.full(label.shape, UNANNOTATED, np.uint8)
    heart = label > 0
    if not heart.any():
        return out
    yy, xx = np.indices(label.shape)
    cy, cx = yy[heart].mean(), xx[heart].mean()
    angle = np.arctan2(yy - cy, xx - cx)

    def keep(stroke: np.ndarray) -> np.ndarray:  # drop a random arc so strokes are not closed contours
        gap = rng.uniform(0.0, 1.6)
        return stroke & (np.mod(angle - rng.uniform(-np.pi, np.pi), 2 * np.pi) > gap)

    def medial(region: np.ndarray, inner: np.ndarray) -> np.ndarray:  # equidistant from both boundaries
        d_in = ndimage.distance_transform_edt(~inner)
        d_out = ndimage.distance_transform_edt(region | inner)
        return region & (np.abs(d_in - d_out) < 1.0)

    def level(region: np.ndarray, frac: float) -> np.ndarray:  # a 1-px band at a fraction of the max depth
        d = ndimage.distance_transform_edt(region)
        r = frac * d.max()
        return region & (d >= r) & (d < r + 1)

    lv, myo, rv = label == LV, label == MYO, label == RV
    epi = lv | myo
    if rv.sum() > 4:
        out[keep(medial(rv, epi))] = RV
    if myo.sum() > 4:
        out[keep(medial(myo, lv) if lv.any() else level(myo, 0.5))] = MYO
    if lv.sum() > 4:
        out[keep(level(lv, 0.5))] = LV
    d_bg = ndimage.distance_transform_edt(~heart) * h
    r = rng.uniform(8.0, 15.0)
    out[keep((d_bg >= r) & (d_bg < r + h))] = 0
    return out


def _upsample(field: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Smoothly upsample low-resolution ``(z, m, n)`` fields to ``(z, *shape)`` with separable Gaussian bases
    normalised so the output keeps the input's standard deviation."""
    bases = []
    for n_out, n_in in zip(shape, field.shape[1:]):
        t = np.linspace(0, 1, n_out)[:, None] - np.linspace(0, 1, n_in)[None]
        b = np.exp(-0.5 * (t * (n_in - 1)) ** 2)
        bases.append(b / np.sqrt((b ** 2).sum(1, keepdims=True)))
    return np.einsum("ym,zmn,xn->zyx", bases[0], field, bases[1], optimize=True)


def render_phantom(a: PhantomAnatomy, phase: str, patient: str = "phantom001") -> Case:
    """Render one frame (``"ED"`` or ``"ES"``) of ``a``: image, label, scribble and known volumes in ``meta``."""
    return _render(a, (phase,), patient)[0]


def _render(a: PhantomAnatomy, phases: tuple[str, ...], patient: str) -> list[Case]:
    """Render several frames of one anatomy, computing the (phase-independent) chest background once."""
    for phase in phases:
        if phase not in PHASES:
            raise ValueError(f"phase must be one of {PHASES}, got {phase!r}")
    background, y, x = _chest(a)
    return [_render_frame(a, phase, a.seeds[PHASES.index(phase)], a.ed_frame if phase == "ED" else a.es_frame,
                          phase, patient, background, y, x) for phase in phases]


def _chest(a: PhantomAnatomy) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The (phase-independent) textured chest background ``(z, y, x)`` and the pixel-centre grids ``y``, ``x``."""
    nz, ny, nx = a.shape
    sz, sy, sx = a.spacing
    h = (sy + sx) / 2
    y = ((np.arange(ny) - (ny - 1) / 2) * sy)[:, None] * np.ones((1, nx))
    x = ((np.arange(nx) - (nx - 1) / 2) * sx)[None, :] * np.ones((ny, 1))
    texture = sum(_upsample(t, (ny, nx)) for t in a.texture)
    background = np.stack([_background(a, k * sz, y, x, h) for k in range(nz)]) * (1 + texture)
    return background, y, x


def _render_frame(a: PhantomAnatomy, contraction: Phase, seed: int, frame: int, phase: str | None, patient: str,
                  background: np.ndarray, y: np.ndarray, x: np.ndarray) -> Case:
    """Paint the heart at one contraction over ``background``, then bias, blur, noise (seeded by ``seed``) and
    rescale. ``frame`` (1-based) and ``phase`` (ED/ES/None) only name the case."""
    rng = np.random.default_rng(seed)
    nz, ny, nx = a.shape
    sz, sy, sx = a.spacing
    h = (sy + sx) / 2
    cy_, cx_ = _crop(a, y, x, margin=20.0)
    yc, xc = y[cy_, cx_], x[cy_, cx_]
    image = background.astype(np.float32)
    label = np.zeros(a.shape, np.uint8)
    scribble = np.full(a.shape, UNANNOTATED, np.uint8)
    it = a.intensity
    for k in range(nz):
        z = k * sz
        crop = np.zeros(yc.shape)
        for frac in _SUBSLICES:
            sub = background[k, cy_, cx_].copy()
            layers, lab = _heart_slice(a, contraction, z + frac * sz, yc, xc, h)
            for alpha, key in layers:
                sub += alpha * (it[key] - sub)
            crop += sub / len(_SUBSLICES)
            if frac == 0.0:
                label[k, cy_, cx_] = lab
        image[k, cy_, cx_] = crop
        scribble[k, cy_, cx_] = _scribble_slice(label[k, cy_, cx_], rng, h)
        scribble[k][(scribble[k] == 0) & (label[k] != 0)] = UNANNOTATED  # background strokes stay outside
    # A smooth multiplicative bias field, then PSF blur and Rician noise.
    yn, xn = y / (ny * sy / 2), x / (nx * sx / 2)
    b = a.bias
    log_bias = b[0] * xn + b[1] * yn + b[2] * xn * yn + b[3] * (xn ** 2 - 0.3) + b[4] * (yn ** 2 - 0.3)
    zn = (np.arange(nz) - (nz - 1) / 2) / max(nz, 1)
    image *= np.exp(log_bias)[None].astype(np.float32)
    image *= np.exp(b[5] * zn)[:, None, None].astype(np.float32)
    image = ndimage.gaussian_filter(image, (0, a.psf, a.psf))
    sigma = a.noise * it["lv"]
    n1 = rng.normal(0, sigma, a.shape).astype(np.float32)
    n2 = rng.normal(0, sigma, a.shape).astype(np.float32)
    image = np.sqrt((image + n1) ** 2 + n2 ** 2)
    lo, hi = np.percentile(image, [1.0, 99.5])
    image = np.clip((image - lo) / max(hi - lo, 1e-6), 0, 1).astype(np.float32)

    voxel_ml = sz * sy * sx / 1000.0
    volumes = {name: float((label == code).sum() * voxel_ml) for code, name in ((LV, "LV"), (MYO, "Myo"), (RV, "RV"))}
    areas = np.array([_slice_areas(a, contraction, k * sz) for k in range(nz)])
    analytic = {"LV": float(areas[:, 0].sum() * sz / 1000), "Myo": float(areas[:, 1].sum() * sz / 1000)}
    return Case(
        image=image, spacing=a.spacing, affine=np.diag([sx, sy, sz, 1.0]), case_id=f"{patient}_frame{frame:02d}",
        patient=patient, label=label, scribble=scribble, phase=phase, frame=frame, dataset="phantom",
        sequence="bssfp",
        meta={"group": GROUP, "ed_frame": a.ed_frame, "es_frame": a.es_frame, "volumes_ml": volumes,
              "analytic_volumes_ml": analytic},
    )
