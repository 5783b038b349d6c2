"""Mode metrics on eight_gaussians: all found, one dropped, mass off the modes."""

import math

import pytest
import torch

from genmodels.errors import InvalidInputError
from genmodels.metrics import mode_counts, mode_weight_tv, modes_covered
from genmodels.targets import get_target


@pytest.fixture(scope="module")
def eight():
    target = get_target("eight_gaussians")
    x = target.sample(4000, torch.Generator().manual_seed(0))
    return target, x


def test_exact_sample_covers_every_mode(eight):
    target, x = eight
    assert modes_covered(x, target.modes) == 8
    # multinomial noise of 4,000 draws over 8 modes: TV is about 0.02
    assert mode_weight_tv(x, target.modes) < 0.04
    assert int(mode_counts(x, target.modes).sum()) == len(x)


def test_dropping_a_mode(eight):
    target, x = eight
    kept = x[target.modes.assign(x) != 5]
    assert modes_covered(kept, target.modes) == 7
    assert mode_weight_tv(kept, target.modes) >= 0.1


def test_min_share_threshold(eight):
    target, x = eight
    labels = target.modes.assign(x)
    in_mode_0 = torch.nonzero(labels == 0)[:, 0]
    # keep 30 % of mode 0's points: covered at min_share 0.2, not at 0.5
    thinned = torch.cat([x[labels != 0], x[in_mode_0[: int(0.3 * len(in_mode_0))]]])
    assert modes_covered(thinned, target.modes, min_share=0.2) == 8
    assert modes_covered(thinned, target.modes, min_share=0.5) == 7
    with pytest.raises(InvalidInputError):
        modes_covered(x, target.modes, min_share=0.0)


def test_all_mass_in_one_mode():
    target = get_target("eight_gaussians")
    x = target.modes.centres[2].expand(100, 2)
    assert modes_covered(x, target.modes) == 1
    assert mode_weight_tv(x, target.modes) == pytest.approx(7 / 8)


def _ring(n: int, noise: float, seed: int = 0) -> torch.Tensor:
    """A blurred ring through the eight modes: the right radius, a uniform angle, radial
    noise ``noise`` (the component std is 0.354)."""
    g = torch.Generator().manual_seed(seed)
    angle = 2 * math.pi * torch.rand(n, generator=g)
    radius = 2 * math.sqrt(2) + noise * torch.randn(n, generator=g)
    return radius[:, None] * torch.stack([angle.cos(), angle.sin()], -1)


def test_a_blurred_ring_does_not_cover_the_modes(eight):
    target, x = eight
    assert modes_covered(x, target.modes) == 8  # exact draws, every mode at its share
    ring = _ring(4000, noise=0.5)
    # every mode gets its share of the ring by nearest centre...
    assert (mode_counts(ring, target.modes) > 0.1 * len(ring)).all()
    # ...but few of those points lie in the mode's core: no mode is found
    assert modes_covered(ring, target.modes) <= 2
    assert modes_covered(_ring(2000, noise=0.354), target.modes) <= 2


@pytest.mark.parametrize("n", [200, 1000])
def test_exact_draws_of_four_modes_cover_four(eight, n):
    target = eight[0]
    x, k = target.sample_labelled(4 * n, torch.Generator().manual_seed(n))
    assert modes_covered(x[k < 4], target.modes) == 4
    for seed in range(5):  # exact draws of every size are not mistaken for a smear
        x = target.sample(n, torch.Generator().manual_seed(seed))
        assert modes_covered(x, target.modes) == 8


def test_a_slightly_wide_sampler_still_covers_every_mode() -> None:
    """Modes 10 % wider than the truth (a good but imperfect model) still count: the core
    rule condemns smears, not small errors of width."""
    target = get_target("eight_gaussians")
    for seed in range(10):
        x = target.sample(2000, generator=torch.Generator().manual_seed(seed))
        centres = target.modes.centres[target.modes.assign(x)]
        assert modes_covered(centres + 1.1 * (x - centres), target.modes) == 8, seed
