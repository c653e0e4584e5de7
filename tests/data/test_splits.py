"""Splits: label budgets, and a selection set held out of training to choose the checkpoint on."""

import pytest

from cmrseg.data.splits import make_split
from cmrseg.errors import ConfigError
from cmrseg.io import load_dataset


def test_selection_set_is_held_out_of_training(phantom_root) -> None:
    refs = load_dataset(phantom_root)  # 3 training patients, 1 val
    s = make_split(refs, 1, selection=1)
    train_patients = sorted({r.patient for r in refs if r.split == "train"})
    assert {r.patient for r in s.selection} == {train_patients[-1]}  # the last in id order
    used = {r.patient for r in s.labelled + s.unlabelled}
    assert train_patients[-1] not in used and len(used) == 2
    assert s.model_selection == s.selection and s.val  # val stays, for reporting
    assert make_split(refs, 1).model_selection == make_split(refs, 1).val


def test_selection_by_ids_and_bad_values(phantom_root) -> None:
    refs = load_dataset(phantom_root)
    first = sorted({r.patient for r in refs if r.split == "train"})[0]
    s = make_split(refs, 1, selection=[first])
    assert {r.patient for r in s.selection} == {first} and first not in {r.patient for r in s.labelled}
    with pytest.raises(ConfigError, match="not labelled training patients"):
        make_split(refs, 1, selection=["nobody"])
    with pytest.raises(ConfigError, match="give 1..2"):
        make_split(refs, 1, selection=3)


def test_a_budget_beyond_the_held_out_selection_set_says_so(phantom_root) -> None:
    refs = load_dataset(phantom_root)
    with pytest.raises(ConfigError, match="selection patients .* held out"):
        make_split(refs, 3, selection=1)
