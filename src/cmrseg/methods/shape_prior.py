"""Shape and position priors as loss-term compositions, plus the shape autoencoder's pre-training.

* ``shape-ae``: pre-trains the label-map autoencoder (model ``shape-ae``) on the labelled stream's
  (augmented) label maps, never on images: input = one-hot labels, loss = Dice+CE reconstruction.
  Validation = 3D reconstruction Dice of the validation label maps (``val/recon_dice_*``; ``best.pt`` on
  ``val/recon_dice_mean``), not segmentation Dice. With ``method.params.corruption`` (a
  :class:`~cmrseg.transforms.label_corruption.LabelCorruptionConfig`, ``{}`` for its defaults) it is a
  *denoising* AE: the input is a randomly corrupted map and the target the clean one; validation then also
  reports the 3D Dice of its output on corrupted validation maps (``val/denoise_dice_*``, fixed corruption
  seed) next to that of the corrupted maps themselves (``val/corrupt_dice_mean``), and ``best.pt`` is
  chosen on ``val/denoise_dice_mean``.
* ``scn``: Dice+CE + 0.1 x ``slice_position`` (SRSCN's spatial constraint; ``model.params.position_head: true``).
* ``srnn``: Dice+CE + 8.2 x ``shape_recon`` (SRSCN's shape reconstruction term; 5e-4 per-image sum at 128 px).
* ``srscn``: both of the above (Yue et al., MICCAI 2019).
* ``acnn``: Dice+CE + 1.0 x ``shape_code`` (Oktay et al., IEEE TMI 2018).
* ``shape-adversarial``: Dice+CE + 0.01 x ``shape_adversarial`` (discriminator on label maps).

The AE-based methods need a pre-trained autoencoder: ``method.params.autoencoder: <checkpoint>`` (it fills
the ``autoencoder`` parameter of every AE-based term that does not set its own). Weight scales: see
:mod:`cmrseg.losses.shape`; none was tuned on our validation data.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn as nn

from pydantic import Field

from cmrseg.config.schema import MethodConfig, TermConfig
from cmrseg.device import module_device
from cmrseg.errors import ConfigError
from cmrseg.labels import NUM_CLASSES, STRUCTURES
from cmrseg.losses.shape import one_hot
from cmrseg.methods.base import Batches, Method, MethodParams, StepContext, register_method
from cmrseg.metrics.overlap import dice_per_structure
from cmrseg.transforms.label_corruption import LabelCorruptionConfig, corrupt_label_maps

AE_LOSSES = frozenset({"shape_recon", "shape_code", "shape_plausibility"})
_SEG = {"loss": "dice_ce", "stream": "labelled", "weight": 1.0}
_POS = {"loss": "slice_position", "stream": "labelled", "weight": 0.1}
_RECON = {"loss": "shape_recon", "stream": "labelled", "weight": 8.2}
_CODE = {"loss": "shape_code", "stream": "labelled", "weight": 1.0}
_ADV = {"loss": "shape_adversarial", "stream": "labelled", "weight": 0.01}


class ShapePriorParams(MethodParams):
    autoencoder: str | None = Field(None, description="checkpoint of a pre-trained shape autoencoder (method "
                                    "shape-ae) for every AE-based term that does not name its own")


class ShapePriorMethod(Method):
    """A method whose AE-based terms take the autoencoder checkpoint from ``method.params.autoencoder``, and
    which checks before any data is loaded that the model has the heads its terms need."""

    Params = ShapePriorParams
    example = {"model": {"params": {"features": [4, 8, 16], "position_head": True}},
               "method": {"params": {"autoencoder": "{shape-ae}"}}}

    @classmethod
    def configure_terms(cls, params: Any, terms: list[TermConfig]) -> list[TermConfig]:
        terms = [t.model_copy(deep=True) for t in terms]
        ae = params.autoencoder
        for t in terms:
            if t.loss in AE_LOSSES and t.params.get("autoencoder") is None:
                if ae is None:
                    raise ConfigError(
                        f"method '{cls.name}' needs a pre-trained shape autoencoder for its '{t.loss}' term: set "
                        "method.params.autoencoder to its checkpoint (e.g. runs/shape_ae_acdc/checkpoints/best.pt, "
                        "trained with `cmrseg train configs/acdc/shape_ae.yaml`)")
                t.params["autoencoder"] = ae
        return terms

    def check(self, cfg: Any) -> None:
        if any(t.loss == "slice_position" for t in self.terms) and not cfg.model.params.get("position_head"):
            raise ConfigError(f"method '{self.name}' has a slice_position term: set model.params.position_head: true")


@register_method("scn")
class SCN(ShapePriorMethod):
    default_terms = (_SEG, _POS)


@register_method("srnn")
class SRNN(ShapePriorMethod):
    default_terms = (_SEG, _RECON)


@register_method("srscn")
class SRSCN(ShapePriorMethod):
    default_terms = (_SEG, _RECON, _POS)


@register_method("acnn")
class ACNN(ShapePriorMethod):
    default_terms = (_SEG, _CODE)


@register_method("shape-adversarial")
class ShapeAdversarialMethod(ShapePriorMethod):
    default_terms = (_SEG, _ADV)


class ShapeAEParams(MethodParams):
    corruption: LabelCorruptionConfig | None = Field(
        None, description="train a denoising AE: corrupt the input maps (cmrseg.transforms.label_corruption; {} "
        "for its defaults); None = a plain AE")


@register_method("shape-ae")
class ShapeAEPretraining(Method):
    """Pre-training of the shape autoencoder on label maps only (see module docstring)."""

    Params = ShapeAEParams
    default_terms = ({"loss": "dice_ce", "stream": "labelled", "weight": 1.0},)
    selection_metric = "val/recon_dice_mean"
    example = {"model": {"name": "shape-ae", "params": {"features": [4, 8, 8, 16], "code_channels": 4}},
               "method": {"params": {"corruption": {}}}}

    def __init__(self, cfg: MethodConfig) -> None:
        super().__init__(cfg)
        self.corruption = self.params.corruption
        if self.corruption is not None:  # a denoiser is kept for what it repairs, not for copying clean maps
            self.selection_metric = "val/denoise_dice_mean"

    def _inputs(self, label: torch.Tensor) -> torch.Tensor:
        """The AE's input for integer label maps: one-hot, or corrupted maps when denoising."""
        if self.corruption is None:
            return one_hot(label, NUM_CLASSES)
        return corrupt_label_maps(label, self.corruption, NUM_CLASSES)

    def check(self, cfg: Any) -> None:
        if cfg.model.name != "shape-ae":
            raise ConfigError(f"method 'shape-ae' trains a label-map autoencoder: set model.name: shape-ae "
                              f"(not '{cfg.model.name}')")

    def forward(self, batches: Batches, ctx: StepContext) -> tuple[dict[str, Any], Batches]:
        """The default forward with each batch's image replaced by its (corrupted) one-hot label map."""
        for name, b in batches.items():
            if "label" not in b:
                raise ConfigError(f"method 'shape-ae' needs label maps, but stream '{name}' has none")
        maps = {name: {**b, "image": self._inputs(b["label"])} for name, b in batches.items()}
        return super().forward(maps, ctx)

    def validate(self, model: nn.Module, val: list, batch: int) -> dict[str, float]:
        """3D Dice per structure between validation label maps and their reconstructions (preprocessed grid);
        when denoising, also of the outputs for corrupted maps, and of the corrupted maps' argmax."""
        model.eval()
        dev = module_device(model)
        kinds = ["recon"] + (["denoise", "corrupt"] if self.corruption is not None else [])
        scores: dict[str, list[float]] = {f"{k}_{s}": [] for k in kinds for s in STRUCTURES.values()}
        gen = torch.Generator().manual_seed(0)  # the same corrupted maps at every validation
        def through_ae(x: torch.Tensor) -> np.ndarray:
            return torch.cat([model(x[i : i + batch].to(dev))["logits"].argmax(1).cpu()
                              for i in range(0, x.shape[0], batch)]).numpy()

        with torch.inference_mode():
            for _, vol in val:
                lab = torch.from_numpy(vol.label.astype(np.int64))
                outs = {"recon": through_ae(one_hot(lab, NUM_CLASSES))}
                if self.corruption is not None:
                    corrupted = corrupt_label_maps(lab, self.corruption, NUM_CLASSES, gen)
                    outs.update(denoise=through_ae(corrupted), corrupt=corrupted.argmax(1).numpy())
                for kind, out in outs.items():
                    for name, d in dice_per_structure(out, vol.label).items():
                        scores[f"{kind}_{name}"].append(d)
        model.train()
        out = {f"val/{k}_dice_{s}": float(np.mean(scores[f"{k}_{s}"])) for k in kinds for s in STRUCTURES.values()}
        for k in kinds:
            out[f"val/{k}_dice_mean"] = float(np.mean([out[f"val/{k}_dice_{s}"] for s in STRUCTURES.values()]))
        return out
