"""Registrators, label warping and Jacobians against known answers on synthetic disks."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from cmrseg.errors import ConfigError, InputError
from cmrseg.models.registration import jacobian_determinant
from cmrseg.registration.registrators import (DemonsRegistrator, IdentityRegistrator, Registrator,
                                              create_registrator, negative_jacobian_share, warp_image, warp_labels)

N = 96
C = (N - 1) / 2


def heart(cy: float, cx: float, r: float) -> tuple[np.ndarray, np.ndarray]:
    """A 'LV' disk (3) of radius r inside a 'myocardium' ring (2) of width 0.5 r; image = blurred intensities."""
    y, x = np.mgrid[:N, :N].astype(float)
    d = np.hypot(y - cy, x - cx)
    label = np.where(d < r, 3, np.where(d < 1.5 * r, 2, 0)).astype(np.uint8)
    image = gaussian_filter(np.choose(label, [0.2, 0.0, 0.4, 1.0]).astype(float), 1.0).astype(np.float32)
    return image, label


def dice(a: np.ndarray, b: np.ndarray, code: int) -> float:
    a, b = a == code, b == code
    return 2 * (a & b).sum() / (a.sum() + b.sum())


# fixed: centred, r = 12; moving: scaled by s = 1.25 about the centre and shifted by t = (3, -2) px
S, T = 1.25, (3.0, -2.0)
FIX_IMG, FIX_LAB = heart(C, C, 12)
MOV_IMG, MOV_LAB = heart(C + T[0], C + T[1], 12 * S)


def analytic_disp() -> np.ndarray:
    """d(p) = moving point of fixed point p minus p = (s - 1)(p - c) + t."""
    y, x = np.mgrid[:N, :N].astype(np.float32)
    return np.stack([(S - 1) * (y - C) + T[0], (S - 1) * (x - C) + T[1]])[None]


def test_warp_labels_integer_shift_is_exact() -> None:
    disp = np.zeros((1, 2, N, N), np.float32)
    disp[:, 0], disp[:, 1] = 3.0, -2.0  # warped(p) = moving(p + (3, -2))
    out = warp_labels(MOV_LAB, disp)[0]
    expected = np.roll(MOV_LAB, (-3, 2), axis=(0, 1))
    assert out.dtype == np.uint8
    assert np.array_equal(out[5:-5, 5:-5], expected[5:-5, 5:-5])


def test_warp_labels_is_one_hot_bilinear_not_nearest_on_codes() -> None:
    # a half-pixel shift of a 0 | 3 edge: bilinear on integer codes would give 1.5 -> RV (1) or Myo (2) codes;
    # one-hot warping only ever yields codes present in the input
    lab = np.zeros((1, 8, 8), np.uint8)
    lab[:, :, 4:] = 3
    disp = np.zeros((1, 2, 8, 8), np.float32)
    disp[:, 1] = 0.5
    assert set(np.unique(warp_labels(lab, disp))) <= {0, 3}


def test_analytic_displacement_recovers_the_fixed_labels() -> None:
    warped = warp_labels(MOV_LAB, analytic_disp())[0]
    for code in (2, 3):
        assert dice(warped, FIX_LAB, code) > 0.95
        assert dice(MOV_LAB, FIX_LAB, code) < 0.8  # identity is far off
    near = np.hypot(*(np.mgrid[:N, :N] - C)) < 30  # (outside, the scaled moving grid leaves the image)
    err = np.abs(warp_image(MOV_IMG, analytic_disp())[0] - FIX_IMG)[near]
    assert err.mean() < 0.01 and np.abs(MOV_IMG - FIX_IMG)[near].mean() > 0.05


def test_demons_beats_identity_on_translated_scaled_pair() -> None:
    disp = DemonsRegistrator().register(MOV_IMG, FIX_IMG)
    assert disp.shape == (1, 2, N, N)
    ident = IdentityRegistrator().register(MOV_IMG, FIX_IMG)
    assert not ident.any()
    d_demons = np.mean([dice(warp_labels(MOV_LAB, disp)[0], FIX_LAB, c) for c in (2, 3)])
    d_ident = np.mean([dice(warp_labels(MOV_LAB, ident)[0], FIX_LAB, c) for c in (2, 3)])
    assert d_ident < 0.75 and d_demons > 0.9
    # the recovered displacement agrees with the analytic one where the image has structure
    ring = (FIX_LAB > 0)
    assert np.abs(disp - analytic_disp())[0][:, ring].mean() < 1.0
    assert negative_jacobian_share(disp) == 0.0


def test_jacobian_known_answers() -> None:
    y, x = np.mgrid[:32, :32].astype(float)
    scale = np.stack([0.5 * (y - 16), 0.5 * (x - 16)])  # p -> 1.5 p: det = 2.25 everywhere
    assert np.allclose(jacobian_determinant(scale), 2.25)
    fold = np.stack([-2.0 * (y - 16), np.zeros_like(x)])  # y -> -y: det = -1
    assert np.allclose(jacobian_determinant(fold[None]), -1.0)
    assert negative_jacobian_share(fold[None]) == 1.0
    assert negative_jacobian_share(fold[None], mask=np.zeros((32, 32), bool)) == 0.0


def test_interface_errors() -> None:
    with pytest.raises(ConfigError, match="Did you mean 'demons'"):
        create_registrator("demon")
    with pytest.raises(InputError, match="checkpoint"):
        create_registrator("learned")
    with pytest.raises(InputError, match="differ in shape"):
        IdentityRegistrator().register(np.zeros((2, 8, 8)), np.zeros((3, 8, 8)))
    with pytest.raises(InputError, match="0..3"):
        warp_labels(np.full((4, 4), 4), np.zeros((1, 2, 4, 4)))
    assert issubclass(DemonsRegistrator, Registrator)


def test_symmetric_inference_is_inverse_consistent() -> None:
    import torch
    import torch.nn.functional as F

    from cmrseg.models.registration import RegistrationNet, warp
    from cmrseg.registration.registrators import LearnedRegistrator

    net = RegistrationNet((4, 8), integration_steps=6, downsize=2).eval()
    # a stand-in velocity: smooth, antisymmetric part (f - m) plus a part common to both orders (+0.5)
    net.velocity = lambda m, f: torch.cat([F.avg_pool2d(f - m, 2)] * 2, 1) * 3.0 + 0.5
    a = torch.from_numpy(gaussian_filter(np.random.default_rng(0).normal(size=(2, 32, 32)), (0, 3, 3))).float()
    b = torch.roll(a, 2, dims=2)
    reg = LearnedRegistrator(net, symmetric=True)
    d_ab = torch.from_numpy(reg.register(a.numpy(), b.numpy()))
    d_ba = torch.from_numpy(reg.register(b.numpy(), a.numpy()))
    assert d_ab.abs().mean() > 0.05
    # phi_ba(phi_ab(p)) = p + d_ab(p) + d_ba(p + d_ab(p)) should be p
    residual = (d_ab + warp(d_ba, d_ab))[..., 4:-4, 4:-4]
    assert residual.abs().mean() < 0.1 * d_ab.abs().mean()
    plain = LearnedRegistrator(net).register(a.numpy(), b.numpy())  # keeps the common +0.5 part
    assert np.abs(plain - d_ab.numpy()).mean() > 0.3
