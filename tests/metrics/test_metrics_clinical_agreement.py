"""Clinical indices on phantoms with known voxel counts; agreement statistics on a hand-computed example."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cmrseg.labels import LV, MYO, RV
from cmrseg.metrics import CLINICAL_INDICES, agreement_stats, clinical_indices, structure_volumes_ml


def _label(counts: dict[int, int], shape=(10, 20, 20)) -> np.ndarray:
    flat = np.zeros(int(np.prod(shape)), np.uint8)
    start = 0
    for code, n in counts.items():
        flat[start:start + n] = code
        start += n
    return flat.reshape(shape)


def test_volumes_exact_with_anisotropic_spacing():
    lab = _label({LV: 1000, MYO: 300, RV: 7})
    vols = structure_volumes_ml(lab, (10.0, 1.25, 1.25))  # 15.625 mm^3 per voxel
    assert vols == {"LV": pytest.approx(15.625), "Myo": pytest.approx(4.6875), "RV": pytest.approx(0.109375)}


def test_lv_and_rv_indices_and_mass():
    ed = _label({LV: 1000, MYO: 500, RV: 2000})
    es = _label({LV: 400, MYO: 600, RV: 1500})
    out = clinical_indices(ed, es, (1.0, 1.0, 1.0), (1.0, 1.0, 1.0))
    assert set(CLINICAL_INDICES) <= set(out)
    assert out["LV_EDV_ml"] == pytest.approx(1.0) and out["LV_ESV_ml"] == pytest.approx(0.4)
    assert out["LV_SV_ml"] == pytest.approx(0.6) and out["LV_EF_pct"] == pytest.approx(60.0)
    assert out["RV_EDV_ml"] == pytest.approx(2.0) and out["RV_ESV_ml"] == pytest.approx(1.5)
    assert out["RV_SV_ml"] == pytest.approx(0.5) and out["RV_EF_pct"] == pytest.approx(25.0)
    assert out["LV_mass_g"] == pytest.approx(0.5 * 1.05)  # ED myocardium only
    assert out["notes"] == ""


def test_spacing_per_phase_is_used():
    ed = _label({LV: 500})
    es = _label({LV: 500})
    out = clinical_indices(ed, es, (2.0, 1.0, 1.0), (1.0, 1.0, 1.0))
    assert out["LV_EDV_ml"] == pytest.approx(1.0) and out["LV_ESV_ml"] == pytest.approx(0.5)
    assert out["LV_EF_pct"] == pytest.approx(50.0)


def test_undefined_ef_is_nan_with_reason():
    ed = _label({LV: 100})  # no RV at all
    es = _label({LV: 150})  # LV grows: negative EF, flagged
    out = clinical_indices(ed, es, (1, 1, 1), (1, 1, 1))
    assert math.isnan(out["RV_EF_pct"]) and "RV EDV is 0" in out["notes"]
    assert out["LV_EF_pct"] == pytest.approx(-50.0) and "swapped" in out["notes"]


def test_agreement_hand_computed():
    a = agreement_stats([1.0, 2.0, 4.0, float("nan")], [0.0, 2.0, 3.0, 5.0])
    sd = math.sqrt(1 / 3)  # differences 1, 0, 1: sum of squared deviations 6/9, ddof=1
    assert (a.n, a.n_excluded) == (3, 1)
    assert a.bias == pytest.approx(2 / 3) and a.sd == pytest.approx(sd)
    assert a.loa_low == pytest.approx(2 / 3 - 1.96 * sd) and a.loa_high == pytest.approx(2 / 3 + 1.96 * sd)
    assert a.mae == pytest.approx(2 / 3)
    assert a.pearson_r == pytest.approx(39 / 42)


def test_agreement_degenerate():
    one = agreement_stats([1.0], [2.0])
    assert one.n == 1 and one.bias == -1.0 and math.isnan(one.sd) and math.isnan(one.pearson_r)
    none = agreement_stats([float("nan")], [1.0])
    assert none.n == 0 and none.n_excluded == 1 and math.isnan(none.bias)
    with pytest.raises(ValueError):
        agreement_stats([1.0, 2.0], [1.0])
