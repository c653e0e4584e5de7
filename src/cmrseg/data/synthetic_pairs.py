"""Synthetic supervision: a stream of (I_syn, label) pairs made by a frozen label-to-image translator.

Each batch crops label maps like any :class:`~cmrseg.data.streams.PatchStream` (same foreground bias, positions),
draws one random style code per map and translates it (:meth:`~cmrseg.models.translator.Label2Image.translate`,
no gradient). The real images of those slices are never returned, so a pool's labels can supervise a segmenter
without pairing them with their images. Declared in a config as
``data.synthetic: {<stream>: {translator: <checkpoint>, pool: labelled}}`` and used by any method's terms
(e.g. ``{loss: dice_ce, stream: <stream>}``); the engine augments its batches like any other stream.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from cmrseg.data.streams import PatchStream, SliceBank
from cmrseg.errors import ConfigError
from cmrseg.losses.shape import one_hot
from cmrseg.models.translator import Label2Image, load_translator


class SyntheticPairStream:
    """Endless ``{"image": (B,1,P,P) synthetic, "label", "valid", "slice_position", "label_position"}`` batches.

    Args:
        bank: slices whose label maps are translated (must hold labels).
        translator: a frozen :class:`Label2Image`.
        batch_size, patch, foreground_p: as :class:`PatchStream`.
        seed: seed of the crops and of the style codes (one numpy RNG, saved with the engine's checkpoints).
    """

    def __init__(self, bank: SliceBank, translator: Label2Image, batch_size: int, patch: int | None = 128,
                 foreground_p: float = 0.67, seed: int = 0) -> None:
        if not bank.has_labels:
            raise ValueError("a synthetic-pair stream translates label maps: its slices need labels")
        self.labels = PatchStream(bank, batch_size, patch, foreground_p, with_labels=True, seed=seed)
        self.rng = self.labels.rng  # crops and styles share the RNG whose state the engine checkpoints
        self.translator = translator

    def __iter__(self) -> "SyntheticPairStream":
        return self

    def __next__(self) -> dict[str, torch.Tensor]:
        batch = next(self.labels)
        style = torch.from_numpy(self.rng.standard_normal((batch["label"].shape[0], self.translator.style_dim))
                                 .astype(np.float32))
        maps = one_hot(batch["label"], self.translator.num_classes)
        noise = None
        if self.translator.noise_channels:  # drawn from the stream's RNG, like the style, for exact resumes
            n, _, h, w = maps.shape
            coarse = self.rng.standard_normal((n, *self.translator.noise_shape(h, w))).astype(np.float32)
            noise = self.translator.smooth_noise(torch.from_numpy(coarse), (h, w))
        with torch.no_grad():  # not inference_mode: the images enter a graph that needs grad downstream
            batch["image"] = self.translator.translate(maps, style, noise)
        return batch


def build_synthetic_stream(name: str, cfg: Any, train_refs: dict[str, list], cache: Any, seed: int
                           ) -> SyntheticPairStream:
    """The stream ``name`` of ``cfg.data.synthetic``: label maps of its pool, translated by its translator."""
    syn = cfg.data.synthetic[name]
    if syn.pool not in train_refs:
        raise ConfigError(f"data.synthetic.{name}.pool must be one of {sorted(train_refs)}, not {syn.pool!r}")
    refs = [r for r in train_refs[syn.pool] if r.label_path is not None]
    if not refs:
        raise ConfigError(f"data.synthetic.{name}: no case of pool '{syn.pool}' has a label map to translate")
    translator = load_translator(syn.translator, f"data.synthetic.{name}")
    vols = [cache.get(r, with_label=True) for r in tqdm(refs, desc=f"preprocess {name}", leave=False,
                                                         disable=not cfg.train.progress)]
    bank = SliceBank(vols, [r.case_id for r in refs])
    if cfg.data.patch is not None and cfg.data.patch % translator.divisor:
        raise ConfigError(f"data.patch {cfg.data.patch} must be divisible by {translator.divisor} for the translator")
    return SyntheticPairStream(bank, translator, cfg.data.stream_batch.get(name, cfg.optim.batch_size),
                               cfg.data.patch, cfg.data.foreground_p, seed)
