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


def _grouped_refs() -> list:
    from pathlib import Path

    from cmrseg.io.base import CaseRef

    groups = ["DCM"] * 4 + ["HCM"] * 4 + ["NOR"] * 4  # ids grouped by pathology, as in ACDC
    return [CaseRef(f"p{i:02d}_ED", f"p{i:02d}", Path(f"p{i:02d}.nii.gz"), Path(f"p{i:02d}_gt.nii.gz"),
                    split="train", meta={"group": g}) for i, g in enumerate(groups)]


def test_budgets_drawn_round_robin_over_pathology_groups() -> None:
    refs = _grouped_refs()
    by_id = make_split(refs, 3, selection=3)
    assert by_id.labelled_patients == ["p00", "p01", "p02"]  # all DCM
    assert {r.patient for r in by_id.selection} == {"p09", "p10", "p11"}  # all NOR
    spread = make_split(refs, 3, selection=3, order="groups")
    assert spread.labelled_patients == ["p00", "p04", "p08"]  # one DCM, one HCM, one NOR
    assert {r.patient for r in spread.selection} == {"p03", "p07", "p11"}  # the last of each group
    assert not {r.patient for r in spread.unlabelled} & {"p00", "p04", "p08", "p03", "p07", "p11"}


def test_group_order_needs_groups() -> None:
    refs = _grouped_refs()
    for r in refs:
        r.meta = {}
    with pytest.raises(ConfigError, match="needs a pathology group"):
        make_split(refs, 3, order="groups")
    with pytest.raises(ConfigError, match="choose 'id' or 'groups'"):
        make_split(refs, 3, order="random")
