"""Learned intra-subject registration (VoxelMorph) between ED and ES, for label propagation.

Stream ``pairs``: 2D slice pairs (ED->ES and ES->ED) of every training patient (:class:`PairStream`; images
of all patients, labels of the ``data.labelled`` ones for the Dice term). Default terms (Balakrishnan et al.,
IEEE TMI 2019, with auxiliary segmentation): ``reg_ncc`` + 1.0 x ``reg_grad`` + 1.0 x ``reg_dice``.
Validation: the val patients' ED labels warped to ES and back, 3D Dice per structure on the preprocessed grid
(``val/prop_dice_*``; ``val/prop_dice_mean`` selects ``best.pt``) and the share of folding pixels.

Needs a registration model (``model.name: vxm-2d``). Method params: ``jitter`` (px, patch centre jitter).
The stream's seed comes from the engine (per stream and per data-parallel rank).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch.nn as nn

from pydantic import Field

from cmrseg.errors import ConfigError
from cmrseg.labels import STRUCTURES
from cmrseg.losses import registration as _losses  # noqa: F401  (registers the reg_* losses)
from cmrseg.methods.base import Batches, Method, MethodParams, StepContext, StreamContext, register_method
from cmrseg.metrics.overlap import dice_per_structure
from cmrseg.registration.pairs import PairStream, PhasePair, phase_pairs
from cmrseg.registration.registrators import negative_jacobian_share, predict_displacement, warp_labels

REGISTRATION_MODELS = ("vxm-2d",)


class RegistrationParams(MethodParams):
    jitter: int = Field(16, ge=0, description="px: random shift of the patch centre around the heart")


@register_method("registration")
class Registration(Method):
    Params = RegistrationParams
    default_terms = ({"loss": "reg_ncc", "stream": "pairs", "weight": 1.0},
                     {"loss": "reg_grad", "stream": "pairs", "weight": 1.0},
                     {"loss": "reg_dice", "stream": "pairs", "weight": 1.0})
    selection_metric = "val/prop_dice_mean"
    example = {"model": {"name": "vxm-2d", "params": {"features": [4, 8, 16], "integration_steps": 4}}}

    def __init__(self, cfg: Any) -> None:
        super().__init__(cfg)
        self._val_pairs: list[tuple[str, str, str]] = []

    def check(self, cfg: Any) -> None:
        if cfg.model.name not in REGISTRATION_MODELS:
            raise ConfigError(f"method 'registration' needs a registration model (model.name one of "
                              f"{list(REGISTRATION_MODELS)}), not '{cfg.model.name}'")

    def build_stream(self, name: str, ctx: StreamContext) -> PairStream | None:
        if name != "pairs":
            return None
        split, cache, cfg = ctx.split, ctx.cache, ctx.cfg
        labelled = set(split.labelled_patients)
        pairs = []
        for patient, ed, es in phase_pairs(split.labelled + split.unlabelled):
            lab = patient in labelled
            pairs.append(PhasePair(patient, cache.get(ed, with_label=lab), cache.get(es, with_label=lab)))
        if not pairs:
            raise ConfigError(f"no training patient has both an ED and an ES frame ({split.describe()})")
        self._val_pairs = [(p, ed.case_id, es.case_id) for p, ed, es in phase_pairs(split.model_selection)]
        if split.model_selection and not self._val_pairs:
            raise ConfigError("no validation patient has both an ED and an ES frame: propagation cannot be validated")
        aug = cfg.augment
        return PairStream(pairs, cfg.data.stream_batch.get(name, cfg.optim.batch_size), cfg.data.patch,
                          self.params.jitter, aug.spatial if aug.enabled else None,
                          aug.intensity if aug.enabled else None, seed=ctx.seed)

    def forward(self, batches: Batches, ctx: StepContext) -> tuple[dict[str, Any], Batches]:
        """The registration net maps (moving, fixed) to a displacement and the warped moving image."""
        return {name: ctx.run(name, b["moving"], b["fixed"]) for name, b in batches.items()}, batches

    def validate(self, model: nn.Module, val: list, batch: int) -> dict[str, float]:
        """Propagation Dice on the val patients (ED->ES and ES->ED), preprocessed grid."""
        vols = dict(val)
        scores: dict[str, list[float]] = {name: [] for name in STRUCTURES.values()}
        folds = []
        for _, ed_id, es_id in self._val_pairs:
            for src, dst in ((vols[ed_id], vols[es_id]), (vols[es_id], vols[ed_id])):
                disp = predict_displacement(model, src.image, dst.image, batch)
                for k, v in dice_per_structure(warp_labels(src.label, disp), dst.label).items():
                    scores[k].append(v)
                folds.append(negative_jacobian_share(disp))
        if not folds:
            return {}
        out = {f"val/prop_dice_{k}": float(np.mean(v)) for k, v in scores.items()}
        out["val/prop_dice_mean"] = float(np.mean([out[f"val/prop_dice_{k}"] for k in STRUCTURES.values()]))
        out["val/neg_jacobian_share"] = float(np.mean(folds))
        return out
