"""Extra label streams from the dataset's own scribble maps (``labels_dir: scribbles``)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from cmrseg.config import load_config
from cmrseg.data.extra_labels import attach_labels
from cmrseg.engine import train
from cmrseg.errors import ConfigError
from cmrseg.io import load_dataset
from testkit import tiny_overrides


def test_scribbles_become_the_label_with_code_4_unannotated(phantom_root: Path) -> None:
    refs = [r for r in load_dataset(phantom_root) if r.split == "train"]
    attached = attach_labels(refs, "scribbles")
    assert [r.case_id for r in attached] == [r.case_id for r in refs]
    for ref, orig in zip(attached[:2], refs[:2]):
        case, own = ref.load(), orig.load()
        np.testing.assert_array_equal(case.label, own.scribble)  # the scribble map, not the full label
        np.testing.assert_array_equal(case.image, own.image)
        assert 4 in np.unique(case.label) and (case.label < 4).sum() < (own.label >= 0).sum()


def test_scribbles_missing_is_a_config_error(phantom_root: Path) -> None:
    refs = [replace(r, scribble_path=None) for r in load_dataset(phantom_root)]
    with pytest.raises(ConfigError, match="scribble map"):
        attach_labels(refs, "scribbles")


def test_partial_ce_trains_on_a_scribble_stream(phantom_root: Path, tmp_path: Path, one_thread) -> None:
    ov = tiny_overrides(phantom_root, tmp_path, "scrib") + [
        "data.labelled=0", "data.extra_labels={scribbles: {labels_dir: scribbles, pool: unlabelled}}",
        "method.terms=[{loss: partial_ce, stream: scribbles, weight: 1.0}]"]
    run = train(load_config(None, ov))
    hist = (run / "history.csv").read_text(encoding="utf-8")
    assert "loss/partial_ce@scribbles" in hist and (run / "checkpoints" / "last.pt").exists()
