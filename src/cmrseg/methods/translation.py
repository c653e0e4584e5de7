"""Training of the label-to-image translator (issue 4) as a method of the one engine.

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

from cmrseg.config.schema import MethodConfig
from cmrseg.device import module_device
from cmrseg.errors import ConfigError
from cmrseg.labels import NUM_CLASSES, STRUCTURES
from cmrseg.losses.shape import one_hot
from cmrseg.methods.base import Method, call_loss, register_method, term_scale

WARMUP = 1000  # iterations before L_IC and L_SC switch on (default terms)


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
    honours_bn_streams = False  # its own training_step, without method.bn_streams

    def __init__(self, cfg: MethodConfig) -> None:
        super().__init__(cfg)
        self.label_stream = str(self.params.get("label_stream", "labelled"))
        self.image_stream = str(self.params.get("image_stream", "unlabelled"))
        if self.label_stream == self.image_stream:
            raise ConfigError("method 'label2image' needs label maps and images of different patients: "
                              "method.params.label_stream and image_stream must differ")
        stray = {t.stream for t in self.terms} - {self.label_stream, self.image_stream}
        if stray:
            raise ConfigError(f"method 'label2image' terms name streams {sorted(stray)}; its streams are "
                              f"'{self.label_stream}' (label maps) and '{self.image_stream}' (images)")
        self.image_to_label = bool(self.params.get("image_to_label", False))
        self.val_slices = int(self.params.get("val_slices", 48))
        self.feature_encoder = self.params.get("feature_encoder")
        if self.feature_encoder:
            self.selection_metric = "val/frechet_score"
        self._features: Any = None

    @property
    def streams(self) -> set[str]:
        return {self.label_stream, self.image_stream}

    def build_stream(self, name: str, split: Any, cache: Any, cfg: Any) -> None:
        if cfg.model.name != "label2image":
            raise ConfigError(f"method 'label2image' trains a translator: set model.name: label2image "
                              f"(not '{cfg.model.name}')")
        return None

    def joint_batch(self, batches: dict[str, dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
        """Label maps (+ their positions) of the label stream and images of the image stream, nothing else."""
        lb, ib = batches[self.label_stream], batches[self.image_stream]
        if "label" not in lb:
            raise ConfigError(f"method 'label2image': stream '{self.label_stream}' has no label maps")
        out = {"label": lb["label"], "image": ib["image"], "valid": ib["valid"]}
        if "label_position" in lb:
            out["label_position"] = lb["label_position"]
        return out

    def training_step(self, model: nn.Module, batches: dict[str, dict[str, torch.Tensor]],
                      iteration: int) -> tuple[torch.Tensor, dict[str, float]]:
        batch = self.joint_batch(batches)
        outputs = model(one_hot(batch["label"], NUM_CLASSES), batch["image"], image_to_label=self.image_to_label)
        total = torch.zeros((), device=module_device(model))
        logs: dict[str, float] = {}
        for term, loss in zip(self.terms, self.losses):
            value = call_loss(loss, outputs, batch, model)
            total = total + term.weight * term_scale(term, iteration) * value
            logs[f"loss/{term.loss}@{term.stream}"] = float(value.detach())
            if hasattr(loss, "last_discriminator_loss"):
                logs[f"loss/{term.loss}_discriminator"] = loss.last_discriminator_loss
        logs["loss/total"] = float(total.detach())
        return total, logs

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
        gt = labels.numpy()
        out = {}
        for code, name in STRUCTURES.items():
            p, g = cyc == code, gt == code
            denom = int(p.sum() + g.sum())
            out[f"val/cycle_dice_{name}"] = 1.0 if denom == 0 else 2.0 * int((p & g).sum()) / denom
        out["val/cycle_dice_mean"] = float(np.mean([out[f"val/cycle_dice_{n}"] for n in STRUCTURES.values()]))
        if self.feature_encoder:
            if self._features is None:
                self._features = SegmenterFeatures(self.feature_encoder)
            fd = frechet_distance(self._features(images), self._features(fake))
            out["val/frechet"], out["val/frechet_score"] = fd, 1.0 / (1.0 + fd)
        model.train()
        return out
