"""Synthetic supervision: a stream of (I_syn, label) pairs painted from label maps.

Each batch crops label maps like any :class:`~cmrseg.data.streams.PatchStream` (same foreground bias, positions)
and paints an image for each with a *painter*: a frozen label-to-image translator (one random style code per
map, :meth:`~cmrseg.models.translator.Label2Image.translate`, no gradient; ``source: translator``) or domain
randomisation (random intensities, background clutter and distortions, :mod:`cmrseg.data.random_contrast`;
``source: random_contrast``); a translator's images can have their contrast randomised in turn (``restyle: true``,
:func:`~cmrseg.data.random_contrast.restyle_images`). The real images of those slices are never returned, so a pool's labels can
supervise a segmenter without pairing them with their images. Declared in a config as
``data.synthetic: {<stream>: {translator: <checkpoint>, pool: labelled}}`` (or ``{source: random_contrast,
params: {...}}``) and used by any method's terms (e.g. ``{loss: dice_ce, stream: <stream>}``); the engine augments
its batches like any other stream.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
import torch
from tqdm.auto import tqdm

from cmrseg.data.random_contrast import RandomContrastConfig, RestyleConfig, random_contrast_images, restyle_images
from cmrseg.data.streams import PatchStream, SliceBank
from cmrseg.errors import ConfigError
from cmrseg.losses.shape import one_hot
from cmrseg.models.translator import Label2Image, load_translator


class Painter(Protocol):
    """Paints ``(B, 1, P, P)`` images for a batch's label maps, drawing its randomness from ``rng``."""

    def __call__(self, batch: dict[str, torch.Tensor], rng: np.random.Generator) -> torch.Tensor: ...


class TranslatorPainter:
    """A frozen :class:`Label2Image` with one random style code (and spatial noise, if it takes some) per map;
    with ``restyle``, its images' contrast is then randomised (:func:`restyle_images`)."""

    def __init__(self, translator: Label2Image, restyle: RestyleConfig | None = None) -> None:
        self.translator = translator
        self.restyle = restyle

    def __call__(self, batch: dict[str, torch.Tensor], rng: np.random.Generator) -> torch.Tensor:
        t = self.translator
        style = torch.from_numpy(rng.standard_normal((batch["label"].shape[0], t.style_dim)).astype(np.float32))
        maps = one_hot(batch["label"], t.num_classes)
        noise = None
        if t.noise_channels:  # drawn from the stream's RNG, like the style, for exact resumes
            n, _, h, w = maps.shape
            coarse = rng.standard_normal((n, *t.noise_shape(h, w))).astype(np.float32)
            noise = t.smooth_noise(torch.from_numpy(coarse), (h, w))
        with torch.no_grad():  # not inference_mode: the images enter a graph that needs grad downstream
            images = t.translate(maps, style, noise)
        if self.restyle is None:
            return images
        return restyle_images(images, batch["label"], batch["valid"], rng, self.restyle)


class RandomContrastPainter:
    """Domain randomisation (:func:`random_contrast_images`) with fixed draw ranges."""

    def __init__(self, cfg: RandomContrastConfig) -> None:
        self.cfg = cfg

    def __call__(self, batch: dict[str, torch.Tensor], rng: np.random.Generator) -> torch.Tensor:
        return random_contrast_images(batch["label"], batch["valid"], rng, self.cfg)


class SyntheticPairStream:
    """Endless ``{"image": (B,1,P,P) synthetic, "label", "valid", "slice_position", "label_position"}`` batches.

    Args:
        bank: slices whose label maps are painted (must hold labels).
        painter: makes the images (:class:`TranslatorPainter` or :class:`RandomContrastPainter`).
        batch_size, patch, foreground_p: as :class:`PatchStream`.
        seed: seed of the crops and of the painter's draws (one numpy RNG, saved with the engine's checkpoints).
    """

    def __init__(self, bank: SliceBank, painter: Painter, batch_size: int, patch: int | None = 128,
                 foreground_p: float = 0.67, seed: int = 0) -> None:
        if not bank.has_labels:
            raise ValueError("a synthetic-pair stream paints images of label maps: its slices need labels")
        self.labels = PatchStream(bank, batch_size, patch, foreground_p, with_labels=True, seed=seed)
        self.rng = self.labels.rng  # crops and paint share the RNG whose state the engine checkpoints
        self.painter = painter

    def __iter__(self) -> "SyntheticPairStream":
        return self

    def __next__(self) -> dict[str, torch.Tensor]:
        batch = next(self.labels)
        batch["image"] = self.painter(batch, self.rng)
        return batch


def build_synthetic_stream(name: str, cfg: Any, train_refs: dict[str, list], cache: Any, seed: int
                           ) -> SyntheticPairStream:
    """The stream ``name`` of ``cfg.data.synthetic``: label maps of its pool, painted by its source."""
    syn = cfg.data.synthetic[name]
    if syn.pool not in train_refs:
        raise ConfigError(f"data.synthetic.{name}.pool must be one of {sorted(train_refs)}, not {syn.pool!r}")
    refs = [r for r in train_refs[syn.pool] if r.label_path is not None]
    if not refs:
        raise ConfigError(f"data.synthetic.{name}: no case of pool '{syn.pool}' has a label map to paint")
    painter: Painter
    if syn.source == "translator":
        translator = load_translator(syn.translator, f"data.synthetic.{name}")
        if cfg.data.patch is not None and cfg.data.patch % translator.divisor:
            raise ConfigError(f"data.patch {cfg.data.patch} must be divisible by {translator.divisor} for the "
                              "translator")
        painter = TranslatorPainter(translator, RestyleConfig(**syn.params) if syn.restyle else None)
    else:
        painter = RandomContrastPainter(RandomContrastConfig(**syn.params))  # params validated at config load
    vols = [cache.get(r, with_label=True) for r in tqdm(refs, desc=f"preprocess {name}", leave=False,
                                                         disable=not cfg.train.progress)]
    bank = SliceBank(vols, [r.case_id for r in refs])
    return SyntheticPairStream(bank, painter, cfg.data.stream_batch.get(name, cfg.optim.batch_size),
                               cfg.data.patch, cfg.data.foreground_p, seed)
