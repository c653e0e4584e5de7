"""Train/val splits and label budgets.

``labelled=N`` takes the first N training patients in ascending id order (the convention of the
semi-supervised ACDC literature: N = 1, 3, 7, 14, 70); an explicit list of patient ids is also accepted.
The remaining training patients become the unlabelled pool (their labels are never loaded for training).

A *selection set* (``selection=N``: the last N labelled training patients in id order, or patient ids) is held
out of training entirely; the engine then picks its checkpoint there, so that val is only reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from cmrseg.errors import ConfigError
from cmrseg.io.base import CaseRef


@dataclass
class Split:
    labelled: list[CaseRef]
    unlabelled: list[CaseRef]
    val: list[CaseRef]
    selection: list[CaseRef] = field(default_factory=list)

    @property
    def model_selection(self) -> list[CaseRef]:
        """The volumes that choose the checkpoint: the selection set when there is one, else val."""
        return self.selection or self.val

    @property
    def labelled_patients(self) -> list[str]:
        return sorted({r.patient for r in self.labelled})

    def describe(self) -> str:
        n = lambda refs: len({r.patient for r in refs})  # noqa: E731
        text = (f"{n(self.labelled)} labelled patients ({len(self.labelled)} volumes), "
                f"{n(self.unlabelled)} unlabelled ({len(self.unlabelled)}), {n(self.val)} val ({len(self.val)})")
        if self.selection:
            text += f", {n(self.selection)} selection ({len(self.selection)}; choose the checkpoint)"
        return text


def assign_default_split(refs: list[CaseRef], val_fraction: float = 0.2, seed: int = 0) -> None:
    """Give refs without a split a deterministic one: a seeded ``val_fraction`` of patients become val."""
    if all(r.split is not None for r in refs):
        return
    patients = sorted({r.patient for r in refs if r.split is None})
    rng = np.random.default_rng(seed)
    n_val = max(1, int(round(len(patients) * val_fraction))) if len(patients) > 1 else 0
    val = set(rng.permutation(patients)[:n_val].tolist())
    for r in refs:
        if r.split is None:
            r.split = "val" if r.patient in val else "train"


def make_split(refs: list[CaseRef], labelled: int | list[str] | None = None, val_fraction: float = 0.2,
               seed: int = 0, labelled_phases: list[str] | None = None,
               selection: int | list[str] | None = None, order: str = "id") -> Split:
    """Split refs into labelled / unlabelled training volumes and validation volumes.

    Args:
        refs: every case of the dataset (only those with a label file can be labelled or val).
        labelled: ``None`` = all training patients; ``N`` = first N in ascending id order; or patient ids.
        labelled_phases: keep labels only for these phases (e.g. ``["ED"]``); the labelled patients' other
            frames join the unlabelled pool (label propagation experiments).
        selection: training patients held out of training (neither labelled nor unlabelled) to choose the
            checkpoint on: ``N`` = the last N labelled training patients in id order, or patient ids.
        order: ``"id"``: budgets count in ascending id order; ``"groups"``: in :func:`group_order` (round-robin
            over the pathology groups), so a budget of N spans min(N, groups) groups and the selection set too
            (ACDC's ids are grouped by pathology: its first 20 patients are all DCM).
    """
    if order not in ("id", "groups"):
        raise ConfigError(f"data.labelled_order={order!r}: choose 'id' or 'groups'")
    assign_default_split(refs, val_fraction, seed)
    train = [r for r in refs if r.split == "train"]
    val = [r for r in refs if r.split == "val" and r.label_path is not None]
    with_labels = sorted({r.patient for r in train if r.label_path is not None})
    if order == "groups":  # selection: the highest ids of each group in turn; budgets: the lowest in turn
        held = _selection_patients(group_order(train, with_labels, highest_first=True)[::-1], selection)
        with_labels = group_order(train, [p for p in with_labels if p not in held])
    else:
        held = _selection_patients(with_labels, selection)
    sel = [r for r in train if r.patient in held and r.label_path is not None]
    train = [r for r in train if r.patient not in held]
    with_labels = [p for p in with_labels if p not in held]
    if labelled is None:
        chosen = set(with_labels)
    elif isinstance(labelled, int):
        if labelled < 0 or labelled > len(with_labels):
            held_note = (f" once the {len(held)} selection patients (data.selection) are held out; lower the budget "
                         "or set data.selection: null (val then chooses the checkpoint)") if held else ""
            raise ConfigError(f"labelled={labelled} but only {len(with_labels)} training patients have labels"
                              f"{held_note}")
        chosen = set(with_labels[:labelled])
    else:
        unknown = sorted(set(labelled) - set(with_labels))
        if unknown:
            raise ConfigError(f"labelled patients {unknown} are not labelled training patients of this dataset; "
                              f"known: {with_labels[:5]}...")
        chosen = set(labelled)
    lab = [r for r in train if r.patient in chosen and r.label_path is not None]
    unl = [r for r in train if r.patient not in chosen]
    if labelled_phases is not None:
        phases = {p.upper() for p in labelled_phases}
        unl = unl + [r for r in lab if (r.phase or "").upper() not in phases]
        lab = [r for r in lab if (r.phase or "").upper() in phases]
        if not lab:
            raise ConfigError(f"no labelled volume has a phase in {sorted(phases)} (phases known: "
                              f"{sorted({str(r.phase) for r in train})})")
    return Split(lab, unl, val, sel)


def group_order(refs: list[CaseRef], patients: list[str], highest_first: bool = False) -> list[str]:
    """``patients`` round-robin over their pathology groups (``meta["group"]``), ascending id within a group
    (descending with ``highest_first``) and groups in order of their first patient: e.g. DCM1, HCM1, MINF1, NOR1,
    RV1, DCM2, ... Patients without a group form one group of their own."""
    group = {r.patient: str((r.meta or {}).get("group") or "") for r in refs}
    by_group: dict[str, list[str]] = {}
    for p in sorted(patients, reverse=highest_first):
        by_group.setdefault(group.get(p, ""), []).append(p)
    if len(by_group) < 2:
        raise ConfigError("data.labelled_order=groups needs a pathology group per patient (ACDC: patients.csv "
                          "'group' column or Info.cfg 'Group'); this dataset has "
                          + ("none" if not by_group or "" in by_group else "only one") + ": use labelled_order: id")
    lists = list(by_group.values())
    out: list[str] = []
    for i in range(max(len(g) for g in lists)):
        out.extend(g[i] for g in lists if i < len(g))
    return out


def _selection_patients(with_labels: list[str], selection: int | list[str] | None) -> set[str]:
    if selection is None:
        return set()
    if isinstance(selection, int):
        if selection < 1 or selection >= len(with_labels):
            raise ConfigError(f"data.selection={selection}: give 1..{len(with_labels) - 1} (the last N of the "
                              f"{len(with_labels)} labelled training patients) or a list of patient ids")
        return set(with_labels[-selection:])
    unknown = sorted(set(selection) - set(with_labels))
    if unknown:
        raise ConfigError(f"data.selection patients {unknown} are not labelled training patients of this dataset; "
                          f"known: {with_labels[:3]} ... {with_labels[-3:]}")
    return set(selection)


def split_from_config(refs: list[CaseRef], data: "DataConfig", seed: int) -> Split:  # noqa: F821
    """:func:`make_split` with the label budget, val fraction, labelled phases and selection set of a run's data
    config."""
    return make_split(refs, data.labelled, data.val_fraction, seed, data.labelled_phases, data.selection,
                      data.labelled_order)
