"""Training of the label-to-image translator as a method of the one engine.

Two streams of *different* training patients: label maps (``label_stream``, default the ``labelled`` pool; its
images are dropped before the model sees the batch) and images (``image_stream``, default ``unlabelled``; labels
never loaded). Per iteration one MUNIT pass of :class:`~cmrseg.models.translator.Label2Image` over both
(``model(one_hot(labels), images)``) feeds every term of :mod:`cmrseg.losses.translation`; the GAN term steps its
own discriminator. Default weights (MUNIT): GAN 1, image recon 10, label recon 10, content 1, style 1, label
cycle 10; L_IC (``intensity_constraint``, mu) and L_SC (``position_class``, nu) switch on at iteration
``start`` (``TermConfig.start``; set ``weight: 0`` for the vanilla translator).

Validation (val patients' labels and images; selects ``best.pt``): ``val_slices`` labelled val slices are
translated with seeded random styles; ``val/cycle_dice_*`` = Dice per structure (pooled over those slices) of
label -> image -> label, i.e. how well the synthetic images keep the anatomy. With ``feature_encoder`` (a
segmentation checkpoint, :class:`~cmrseg.metrics.frechet.SegmenterFeatures`) also ``val/frechet`` between real
and synthetic val slices and ``val/frechet_score = 1 / (1 + FD)`` (higher is better), which then selects.

Method params: ``label_stream``, ``image_stream``, ``image_to_label`` (also run MUNIT's image -> label
direction and its content reconstruction; default false: costs time, unused for synthesis), ``val_slices``
(default 48), ``feature_encoder`` (default none).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn as nn

from pydantic import Field

from cmrseg.config.schema import MethodConfig
from cmrseg.device import module_device
from cmrseg.errors import ConfigError
from cmrseg.labels import NUM_CLASSES
from cmrseg.losses.shape import one_hot
from cmrseg.methods.base import Batches, Method, MethodParams, StepContext, register_method
from cmrseg.metrics.overlap import dice_per_structure

WARMUP = 1000  # iterations before L_IC and L_SC switch on (default terms)


class Label2ImageParams(MethodParams):
    label_stream: str = Field("labelled", description="stream whose label maps are translated (images dropped)")
    image_stream: str = Field("unlabelled", description="stream of real images (labels never loaded)")
    image_to_label: bool = Field(False, description="also run MUNIT's image -> label direction (slower; unused "
                                 "for synthesis)")
    val_slices: int = Field(48, ge=1, description="labelled val slices translated at each validation")
    feature_encoder: str | None = Field(None, description="segmentation checkpoint: also report the Frechet "
                                        "distance of real vs synthetic val slices, and select on it")


@register_method("label2image")
class Label2ImageTraining(Method):
    default_terms = (
        {"loss": "t2i_gan", "stream": "unlabelled", "weight": 1.0},
        {"loss": "t2i_image_recon", "stream": "unlabelled", "weight": 10.0},
        {"loss": "t2i_label_recon", "stream": "labelled", "weight": 10.0},
        {"loss": "t2i_content_recon", "stream": "labelled", "weight": 1.0},
        {"loss": "t2i_style_recon", "stream": "labelled", "weight": 1.0},
        {"loss": "t2i_cycle", "stream": "labelled", "weight": 10.0},
        {"loss": "intensity_constraint", "stream": "labelled", "weight": 1.0, "start": WARMUP},
        {"loss": "position_class", "stream": "labelled", "weight": 1.0, "start": WARMUP},
    )
    selection_metric = "val/cycle_dice_mean"
    Params = Label2ImageParams
    example = {"model": {"name": "label2image", "params": {"preset": "compact"}}, "data": {"labelled": 1},
               "method": {"params": {"val_slices": 4}}}

    def __init__(self, cfg: MethodConfig) -> None:
        super().__init__(cfg)
        self.label_stream, self.image_stream = self.params.label_stream, self.params.image_stream
        if self.label_stream == self.image_stream:
            raise ConfigError("method 'label2image' needs label maps and images of different patients: "
                              "method.params.label_stream and image_stream must differ")
        stray = {t.stream for t in self.terms} - {self.label_stream, self.image_stream}
        if stray:
            raise ConfigError(f"method 'label2image' terms name streams {sorted(stray)}; its streams are "
                              f"'{self.label_stream}' (label maps) and '{self.image_stream}' (images)")
        self.image_to_label = self.params.image_to_label
        self.val_slices = self.params.val_slices
        self.feature_encoder = self.params.feature_encoder
        if self.feature_encoder:
            self.selection_metric = "val/frechet_score"
        self._features: Any = None

    @property
    def streams(self) -> set[str]:
        return {self.label_stream, self.image_stream}

    def check(self, cfg: Any) -> None:
        if cfg.model.name != "label2image":
            raise ConfigError(f"method 'label2image' trains a translator: set model.name: label2image "
                              f"(not '{cfg.model.name}')")

    def joint_batch(self, batches: dict[str, dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
        """Label maps (+ their positions) of the label stream and images of the image stream, nothing else."""
        lb, ib = batches[self.label_stream], batches[self.image_stream]
        if "label" not in lb:
            raise ConfigError(f"method 'label2image': stream '{self.label_stream}' has no label maps")
        out = {"label": lb["label"], "image": ib["image"], "valid": ib["valid"]}
        if "label_position" in lb:
            out["label_position"] = lb["label_position"]
        return out

    def forward(self, batches: Batches, ctx: StepContext) -> tuple[dict[str, Any], Batches]:
        """One MUNIT pass over the label stream's maps and the image stream's images; every term sees it."""
        batch = self.joint_batch(batches)
        outputs = ctx.run(self.label_stream, one_hot(batch["label"], NUM_CLASSES), batch["image"],
                          image_to_label=self.image_to_label)
        return {self.label_stream: outputs, self.image_stream: outputs}, {self.label_stream: batch,
                                                                          self.image_stream: batch}

    def validate(self, model: nn.Module, val: list, batch: int) -> dict[str, float]:
        """Cycle Dice (and, with a feature encoder, the Frechet distance) on labelled val slices."""
        from cmrseg.metrics.frechet import SegmenterFeatures, frechet_distance, labelled_slices, translate_slices

        model.eval()
        images, labels, _ = labelled_slices([v for _, v in val], self.val_slices)
        with torch.no_grad():
            fake = translate_slices(model, labels, seed=0, batch=batch)
            dev = module_device(model)
            cyc = torch.cat([model.decode_label(model.encode_image(fake[i : i + batch].to(dev))[0]).argmax(1).cpu()
                             for i in range(0, fake.shape[0], batch)]).numpy()
        dice = dice_per_structure(cyc, labels.numpy())  # pooled over the slices
        out = {f"val/cycle_dice_{name}": d for name, d in dice.items()}
        out["val/cycle_dice_mean"] = float(np.mean(list(dice.values())))
        if self.feature_encoder:
            if self._features is None:
                self._features = SegmenterFeatures(self.feature_encoder)
            fd = frechet_distance(self._features(images), self._features(fake))
            out["val/frechet"], out["val/frechet_score"] = fd, 1.0 / (1.0 + fd)
        model.train()
        return out
