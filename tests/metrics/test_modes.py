"""Mode metrics on eight_gaussians: all found, one dropped, mass off the modes."""

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
