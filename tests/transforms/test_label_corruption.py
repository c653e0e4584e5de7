"""Label-map corruption (inputs of the denoising shape AE): valid probability maps, bounded and reproducible
changes, and a denoising AE trained on it that repairs a known defect (a hole in the myocardium, an island)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from cmrseg.models.shape_ae import ShapeAE
from cmrseg.transforms.label_corruption import (LabelCorruptionConfig, corrupt_label_maps, paint_blobs,
                                                shift_borders)


def hearts(n: int, size: int = 32, generator: torch.Generator | None = None) -> torch.Tensor:
    """``(n, size, size)`` toy hearts at a fixed place: LV disc (3) of radius 4-6, Myo ring (2) 3 px wide, RV (1)."""
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    out = torch.zeros(n, size, size, dtype=torch.long)
    for i in range(n):
        r = 4 + int(torch.randint(0, 3, (), generator=generator))
        d = ((yy - 16) ** 2 + (xx - 13) ** 2).float().sqrt()
        rv = ((yy - 16) ** 2 + (xx - 13 - r - 5) ** 2).float().sqrt() < r + 1
        out[i][rv & (d > r + 3)] = 1
        out[i][d <= r + 3] = 2
        out[i][d <= r] = 3
    return out


def test_uncorrupted_maps_are_exact_one_hot_and_corrupted_ones_are_probabilities() -> None:
    lab = hearts(6)
    clean = corrupt_label_maps(lab, LabelCorruptionConfig(p=0.0), 4)
    assert torch.equal(clean, F.one_hot(lab, 4).permute(0, 3, 1, 2).float())
    gen = lambda: torch.Generator().manual_seed(3)  # noqa: E731
    noisy = corrupt_label_maps(lab, LabelCorruptionConfig(p=1.0), 4, gen())
    assert torch.equal(noisy, corrupt_label_maps(lab, LabelCorruptionConfig(p=1.0), 4, gen()))  # reproducible
    assert bool((noisy >= 0).all()) and torch.allclose(noisy.sum(1), torch.ones(6, 32, 32))
    assert int((noisy.argmax(1) != lab).sum()) > 0  # something changed
    with pytest.raises(ValueError, match="outside 0..3"):
        corrupt_label_maps(lab + 1, LabelCorruptionConfig(), 4)
    with pytest.raises(ValueError, match=r"\(N, H, W\)"):
        corrupt_label_maps(lab[0], LabelCorruptionConfig(), 4)


def test_border_shifts_stay_within_max_shift_of_the_border() -> None:
    lab = torch.zeros(40, 40, dtype=torch.long)
    yy, xx = torch.meshgrid(torch.arange(40), torch.arange(40), indexing="ij")
    lab[(yy - 20) ** 2 + (xx - 20) ** 2 <= 100] = 3  # disc of radius 10
    grown = shrunk = 0
    gen = torch.Generator().manual_seed(0)
    for _ in range(20):
        out = shift_borders(lab, shift_p=1.0, max_shift=2, num_classes=4, generator=gen)
        changed = out != lab
        if bool((out == 3).sum() > (lab == 3).sum()):
            grown += 1
            assert bool((lab[changed] == 0).all() and (out[changed] == 3).all())
            assert bool(((yy - 20) ** 2 + (xx - 20) ** 2)[changed].max() <= (10 + 2 * 2 ** 0.5) ** 2)
        else:
            shrunk += 1
            assert bool((lab[changed] == 3).all() and (out[changed] == 0).all())
            assert bool(((yy - 20) ** 2 + (xx - 20) ** 2)[changed].min() >= (10 - 2 * 2 ** 0.5 - 1) ** 2)
    assert grown > 0 and shrunk > 0


def test_blobs_are_discs_of_the_given_radius() -> None:
    lab = torch.zeros(64, 64, dtype=torch.long)
    assert torch.equal(paint_blobs(lab, 0, (3, 3), 4), lab)
    gen = torch.Generator().manual_seed(1)
    sizes = set()
    for _ in range(20):
        changed = torch.nonzero(paint_blobs(lab, 1, (3, 3), 4, gen) != lab)
        sizes.add(len(changed))
        if len(changed):  # one disc of radius 3: at most 29 pixels within a 7 x 7 box (fewer at the image border)
            assert len(changed) <= 29 and bool((changed.amax(0) - changed.amin(0) <= 6).all())
    assert 29 in sizes


def test_denoising_autoencoder_repairs_a_hole_in_the_myocardium_and_removes_an_island() -> None:
    torch.manual_seed(0)
    cfg = LabelCorruptionConfig(max_blobs=2, radius=(1, 3), max_shift=1)
    ae = ShapeAE(features=(8, 8, 16, 16), code_channels=4)
    opt = torch.optim.Adam(ae.parameters(), 1e-2)
    for _ in range(300):
        lab = hearts(16)
        loss = F.cross_entropy(ae(corrupt_label_maps(lab, cfg, 4))["logits"], lab)
        opt.zero_grad()
        loss.backward()
        opt.step()
    ae.eval()
    lab = hearts(32, generator=torch.Generator().manual_seed(1))
    bad = lab.clone()
    for i in range(len(bad)):  # the known defect: a 3 x 3 gap in the myocardium, an LV island in a corner
        cy, cx = torch.nonzero(bad[i] == 2)[0].tolist()
        gap = bad[i, cy : cy + 3, cx - 1 : cx + 2]
        gap[gap == 2] = 0
        bad[i, 2:5, 2:5] = 3
    hole = (lab == 2) & (bad == 0)
    with torch.no_grad():
        rep = ae(F.one_hot(bad, 4).permute(0, 3, 1, 2).float())["logits"].argmax(1)
    assert int((rep[:, 2:5, 2:5] == 3).sum()) == 0  # island gone
    assert float(((rep == 2) & hole).sum() / hole.sum()) >= 0.75  # gap closed
    for k in (1, 2, 3):  # and the rest of the heart is kept
        assert float(2 * ((rep == k) & (lab == k)).sum() / ((rep == k).sum() + (lab == k).sum())) > 0.85
