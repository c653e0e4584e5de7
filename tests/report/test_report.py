"""Report: overlays, training curves and report.html on a fake run folder with a concentric-disc phantom."""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pytest

from cmrseg.data.case import Case
from cmrseg.errors import InputError
from cmrseg.labels import LV, MYO, RV
from cmrseg.metrics import evaluate_cases
from cmrseg.report import overlay_rgb, plot_history, save_overlay, write_report
from cmrseg.report.overlays import heart_box, heart_slices

SPACING = (8.0, 1.5, 1.5)
SHAPE = (8, 64, 64)


def phantom(scale: float = 1.0, shift: int = 0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Image + label of 3 concentric discs (LV inside Myo inside RV) on slices 1..6, shrinking towards z=6."""
    z, y, x = np.mgrid[: SHAPE[0], : SHAPE[1], : SHAPE[2]]
    r = np.hypot(y - 32, x - 32 - shift)
    size = scale * np.clip(1.0 - (z - 1) / 7.0, 0, 1) * ((z >= 1) & (z <= 6))  # largest at the base (z=1)
    label = np.zeros(SHAPE, np.uint8)
    label[r < 20 * size] = RV
    label[r < 14 * size] = MYO
    label[r < 9 * size] = LV
    levels = np.array([0.2, 0.8, 0.35, 0.9])  # BG, RV, Myo, LV
    image = levels[label] + 0.03 * np.random.default_rng(seed).standard_normal(SHAPE)
    return image.astype(np.float32), label


def _mask(rgb: np.ndarray, channel: int, margin: float = 0.15) -> np.ndarray:
    """Pixels where ``channel`` clearly dominates the other two (rgb in [0, 1])."""
    others = [c for c in range(3) if c != channel]
    return np.all(rgb[..., channel:channel + 1] > rgb[..., others] + margin, axis=-1)


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    """A run folder as the pipeline writes it: config, history, eval tables of 2 patients x ED/ES, 2 figures."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text("method:\n  name: supervised\nmodel:\n  name: unet2d\n", encoding="utf-8")
    its = np.arange(200, 1200, 200)
    lines = ["iteration,loss/total,loss/dice,lr,minutes,val/dice_LV,val/dice_Myo,val/dice_RV,val/dice_mean"]
    for k, it in enumerate(its):
        d = [0.5 + 0.08 * k, 0.4 + 0.09 * k, 0.45 + 0.08 * k]
        lines.append(f"{it},{1.0 / (k + 1)},{0.6 / (k + 1)},0.001,{k * 0.5},{d[0]},{d[1]},{d[2]},{np.mean(d)}")
    (run / "history.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    pairs = []
    for p, (ed_scale, es_scale) in enumerate([(1.0, 0.8), (0.95, 0.7)]):
        for phase, scale in (("ED", ed_scale), ("ES", es_scale)):
            image, gt = phantom(scale, seed=p)
            _, pred = phantom(scale * 0.97, shift=1)
            gt_case = Case(image, SPACING, np.diag([*SPACING, 1.0]), f"patient00{p + 1}_{phase}",
                           f"patient00{p + 1}", label=gt, phase=phase)
            pairs.append((gt_case.with_label(pred), gt_case))
            if phase == "ED":
                save_overlay(image, pred, run / "figures" / f"{gt_case.case_id}.png", gt=gt, spacing=SPACING,
                             title=gt_case.case_id)
    result = evaluate_cases(pairs)
    result.summary["protocol"] = "split: 2 val patients; metrics: 3D Dice, HD95 <mm> & ASSD"  # as the pipeline does
    result.save(run / "eval")
    return run


def test_overlay_rgb_colours_where_labels_are() -> None:
    image, label = phantom()
    rgb = overlay_rgb(image[1], label[1]).astype(float) / 255
    assert rgb.shape == (64, 64, 3)
    assert _mask(rgb, 0)[32, 32]  # LV centre red
    assert _mask(rgb, 1)[32, 32 + 11]  # Myo ring green
    assert _mask(rgb, 2)[32, 32 + 17]  # RV ring blue
    assert np.ptp(rgb[2, 2]) == 0  # background stays grey
    assert not _mask(rgb, 0)[label[1] != LV].any()
    with pytest.raises(InputError):
        overlay_rgb(image[1], label[1, :10])


def test_heart_slices_and_crop() -> None:
    _, label = phantom()
    picks = heart_slices(label, n_slices=3)
    zs = [z for z, _ in picks]
    assert zs[0] == 1 and zs[2] == 6 and 1 < zs[1] < 6  # base (larger end) first
    assert [name.split()[0] for _, name in picks] == ["basal", "mid", "apical"]
    zs = [z for z, _ in heart_slices(label[::-1].copy(), n_slices=3)]
    assert zs[0] == 6 and zs[2] == 1
    ys, xs = heart_box(phantom(0.5)[1])  # RV radius < 10 -> rows 23..41, plus 8 pixels
    assert (ys.start, ys.stop) == (xs.start, xs.stop) == (15, 50)
    assert heart_box(np.zeros(SHAPE)) == (slice(0, 64), slice(0, 64))
    assert len(heart_slices(np.zeros(SHAPE), n_slices=3)) == 3


def test_heart_slices_orient_on_the_ground_truth_not_on_a_bad_prediction() -> None:
    """A prediction with a large false positive at the apical end must not rename the apex "basal"."""
    _, gt = phantom()
    pred = gt.copy()
    pred[5:7, 2:62, 2:22] = 1  # a big chest-wall "RV" on the two apical slices
    assert heart_slices(pred, n_slices=3)[0][0] == 6  # without a reference the prediction's area decides
    picks = heart_slices(pred, n_slices=3, reference=gt)
    assert picks[0] == (1, "basal (z=1)") and picks[2] == (6, "apical (z=6)")


def test_save_overlay_png(tmp_path: Path) -> None:
    image, gt = phantom()
    _, pred = phantom(0.9, shift=2)
    both = mpimg.imread(save_overlay(image, pred, tmp_path / "a" / "both.png", gt=gt, spacing=SPACING, title="c1"))
    one = mpimg.imread(save_overlay(image, pred, tmp_path / "one.png", spacing=SPACING))
    assert both.ndim == 3 and both.shape[1] > 200 and both.shape[0] > 1.4 * one.shape[0]  # second row (GT)
    for channel in range(3):  # red LV, green Myo, blue RV all visible
        assert _mask(both[..., :3], channel).sum() > 100
    assert both[..., :3].std() > 0.1
    tall = mpimg.imread(save_overlay(image, pred, tmp_path / "tall.png", spacing=(8.0, 3.0, 1.5)))
    assert tall.shape[0] > one.shape[0]  # pixels twice as tall in mm -> taller panels


def test_plot_history(tmp_path: Path, run_dir: Path) -> None:
    png = plot_history(run_dir / "history.csv", tmp_path / "curves.png")
    assert png is not None and mpimg.imread(png).shape[1] > 500
    assert plot_history(tmp_path / "missing.csv", tmp_path / "x.png") is None
    (tmp_path / "empty.csv").write_text("iteration,loss/total\n", encoding="utf-8")
    assert plot_history(tmp_path / "empty.csv", tmp_path / "x.png") is None
    (tmp_path / "blank.csv").write_text("", encoding="utf-8")
    assert plot_history(tmp_path / "blank.csv", tmp_path / "x.png") is None


def test_write_report_full(run_dir: Path) -> None:
    image, gt = phantom()
    _, pred = phantom(0.9, shift=2)
    cases = [{"case_id": "viewer<1>", "image": image, "pred": pred, "gt": gt, "spacing": SPACING},
             {"case_id": "no_gt", "image": image, "pred": pred, "gt": None, "spacing": None}]
    text = write_report(run_dir, cases=cases).read_text(encoding="utf-8")
    for name in ("LV", "Myo", "RV", "HD95", "ASSD", "LV_EF_pct", "Pearson r", "<details>", "supervised"):
        assert name in text
    for case_id in ("patient001_ED", "patient001_ES", "patient002_ED", "patient002_ES"):
        assert f"<tr><td>{case_id}</td>" in text  # one per-case table row each
    assert "split: 2 val patients; metrics: 3D Dice, HD95 &lt;mm&gt; &amp; ASSD" in text  # protocol, escaped
    assert "viewer&lt;1&gt;" in text and "viewer<1>" not in text
    n_img = text.count('src="data:image/png;base64,')
    assert n_img == 1 + 2 + 2 * SHAPE[0]  # curves + figures + one frame per slice per viewed case
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text)
    assert "http" not in re.sub(r"base64,[A-Za-z0-9+/=]+", "", text)  # no external URL anywhere
    assert text.count('type="range"') == 2 and 'class="sortable"' in text


def test_write_report_without_eval_and_history(run_dir: Path, tmp_path: Path) -> None:
    bare = tmp_path / "bare"
    bare.mkdir()
    with pytest.raises(InputError, match="neither a run folder"):  # nothing to report: no empty page
        write_report(bare)
    (bare / "history.csv").write_text("iteration,loss/total,minutes\n1,0.5,0.1\n", encoding="utf-8")
    text = write_report(bare).read_text(encoding="utf-8")
    assert "no evaluation summary" in text and "no config.yaml" in text
    assert 'type="range"' not in text  # no viewers without predictions
    (run_dir / "eval" / "agreement.json").unlink()  # may be absent; a malformed summary must not crash either
    (run_dir / "eval" / "summary.json").write_text("{not json", encoding="utf-8")
    text = write_report(run_dir).read_text(encoding="utf-8")
    assert "no agreement statistics" in text and "summary skipped" in text and "patient001_ES" in text
    bad = [{"case_id": "bad", "image": np.zeros((2, 4, 4)), "pred": np.zeros((2, 4, 5), np.uint8)}]
    assert "no viewer" in write_report(run_dir, cases=bad).read_text(encoding="utf-8")
    with pytest.raises(InputError):
        write_report(tmp_path / "nope")
