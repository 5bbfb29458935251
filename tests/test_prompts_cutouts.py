import pytest
import torch

from lag_core.cutouts import make_cutouts
from lag_core.errors import InputError
from lag_core.options import AugmentConfig
from lag_core.prompts import Targets, parse_prompt, spherical_distance, targets_loss


@pytest.mark.parametrize("text,expected", [
    ("a red sun", ("a red sun", 1.0)),
    ("a red sun:2", ("a red sun", 2.0)),
    ("blurry:-0.5", ("blurry", -0.5)),
    ("a cat : 1.5e-1", ("a cat", 0.15)),
    ("verse: the night is young", ("verse: the night is young", 1.0)),
])
def test_parse_prompt(text, expected):
    assert parse_prompt(text) == expected


@pytest.mark.parametrize("bad", ["a cat:heavy", ":2", "x:inf", "a cat:1.2.3"])
def test_parse_prompt_rejects(bad):
    with pytest.raises(InputError):
        parse_prompt(bad)


def test_spherical_distance_and_signed_loss():
    a = torch.nn.functional.normalize(torch.randn(5, 8), dim=-1)
    d = spherical_distance(a, a)
    assert torch.allclose(d.diagonal(), torch.zeros(5), atol=1e-5)
    anti = spherical_distance(a, -a).diagonal()
    assert torch.allclose(anti, torch.full((5,), 2 * (torch.pi / 2) ** 2), atol=1e-4)
    t = Targets.from_embeddings(a[:1], 1.0)
    push = Targets.from_embeddings(a[:1], -1.0)
    assert targets_loss(a[:1], t) < targets_loss(a[1:2], t)
    assert targets_loss(a[:1], push) == -targets_loss(a[:1], t)
    x = a[1:2].clone().requires_grad_(True)
    targets_loss(x, t).backward()
    assert torch.isfinite(x.grad).all()


def test_targets_cat_checks_dims():
    with pytest.raises(InputError, match="different sizes"):
        Targets.cat([Targets.from_embeddings(torch.randn(1, 4)), Targets.from_embeddings(torch.randn(1, 8))])
    with pytest.raises(InputError, match="no targets"):
        Targets.cat([])


def test_cutouts_shape_and_batched():
    img = torch.rand(2, 3, 64, 48)
    g = torch.Generator().manual_seed(0)
    out = make_cutouts(img, 16, cutn=8, generator=g)
    assert out.shape == (16, 3, 16, 16)
    assert torch.isfinite(out).all()


def test_plain_cutout_of_same_size_image_is_the_image():
    img = torch.rand(1, 3, 16, 16)
    g = torch.Generator().manual_seed(0)
    out = make_cutouts(img, 16, cutn=4, aug=AugmentConfig(enabled=False), generator=g)
    for cut in out:
        torch.testing.assert_close(cut, img[0], atol=1e-5, rtol=0)


def test_cutouts_come_from_the_right_place():
    # Left half black, right half white: small crops are pure black or pure white or a mix with
    # the mean matching the fraction of the crop that lies on the right.
    img = torch.zeros(1, 3, 64, 64)
    img[..., 32:] = 1
    g = torch.Generator().manual_seed(1)
    out = make_cutouts(img, 8, cutn=64, cut_pow=4.0, aug=AugmentConfig(enabled=False), generator=g)
    means = out.mean((1, 2, 3))
    assert (means < 0.05).any() and (means > 0.95).any()
    # A horizontally flipped plain crop mirrors: with flip=1 every crop is mirrored.
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    plain = make_cutouts(img, 8, cutn=4, aug=AugmentConfig(enabled=True, flip=0.0, degrees=0, translate=0, scale=0, jitter=0, noise=0), generator=g1)
    flipped = make_cutouts(img, 8, cutn=4, aug=AugmentConfig(enabled=True, flip=1.0, degrees=0, translate=0, scale=0, jitter=0, noise=0), generator=g2)
    torch.testing.assert_close(flipped, plain.flip(-1), atol=1e-5, rtol=0)


def test_cutouts_are_differentiable():
    img = torch.rand(1, 3, 32, 32, requires_grad=True)
    out = make_cutouts(img, 8, cutn=4, generator=torch.Generator().manual_seed(0))
    out.sum().backward()
    assert img.grad is not None and img.grad.abs().sum() > 0


def test_large_crops_do_not_alias():
    # A one-pixel checkerboard seen whole at 8 px must come out flat grey; sampled directly
    # (bilinear at ~8x downscale) it comes out with a std of ~0.16.
    img = ((torch.arange(64)[:, None] + torch.arange(64)[None]) % 2).float().expand(1, 3, 64, 64).contiguous()
    out = make_cutouts(img, 8, cutn=16, cut_pow=0.05, aug=AugmentConfig(enabled=False), generator=torch.Generator().manual_seed(0))
    assert out.shape == (16, 3, 8, 8)
    assert out.std() < 0.02 and abs(out.mean() - 0.5) < 0.01
