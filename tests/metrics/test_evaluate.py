"""`evaluate_samples`: exact samples reach the floor, wrong ones do not."""

import pytest
import torch

from genmodels.errors import InvalidInputError, NotApplicableError
from genmodels.metrics import evaluate_samples
from genmodels.samples import Samples
from genmodels.targets import get_target

N = 2000


def exact(name: str, n: int = N, seed: int = 1):
    target = get_target(name)
    return target, target.sample(n, torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("name", ["eight_gaussians", "checkerboard", "funnel"])
def test_exact_samples_reach_the_floor(name):
    target, x = exact(name)
    m = evaluate_samples(x, target)
    assert m["n"] == N
    assert 0 < m["mmd"] <= 3 * m["mmd_floor"]
    if target.modes is not None:
        assert m["modes_covered"] == m["modes_total"] == target.modes.k


def test_keys_for_mixtures_and_plain_targets():
    target, x = exact("eight_gaussians", 500)
    assert set(evaluate_samples(x, target)) == {
        "n",
        "mmd",
        "mmd_floor",
        "energy_distance",
        "sliced_wasserstein",
        "modes_covered",
        "modes_total",
        "mode_weight_tv",
    }
    target, x = exact("banana", 500)
    assert set(evaluate_samples(x, target)) == {
        "n",
        "mmd",
        "mmd_floor",
        "energy_distance",
        "sliced_wasserstein",
    }


@pytest.mark.parametrize(
    "distort",
    [lambda x: x + torch.tensor([0.5, 0.0]), lambda x: 1.3 * x],
    ids=["shifted", "scaled"],
)
def test_wrong_samples_score_far_above_the_floor(distort):
    target, x = exact("two_moons")
    good = evaluate_samples(x, target)
    bad = evaluate_samples(distort(x), target)
    assert bad["mmd"] > 10 * bad["mmd_floor"]
    assert bad["energy_distance"] > 10 * good["energy_distance"]
    assert bad["sliced_wasserstein"] > 3 * good["sliced_wasserstein"]
    assert bad["mmd_floor"] == good["mmd_floor"]  # the floor depends on target, n and seed only


def test_one_mode_removed():
    target, x = exact("eight_gaussians")
    m = evaluate_samples(x[target.modes.assign(x) != 0], target)
    assert m["modes_covered"] == 7
    assert m["mode_weight_tv"] >= 0.1
    assert m["mmd"] > 5 * m["mmd_floor"]


def test_seed_makes_results_repeatable_and_chains_are_flattened():
    target, x = exact("rings", 600)
    a = evaluate_samples(x, target, seed=3)
    chains = Samples(x.reshape(4, 150, 2), chains=4)  # (chains, draws, 2)
    assert evaluate_samples(chains, target, seed=3) == a
    assert evaluate_samples(x, target, seed=4)["mmd"] != a["mmd"]


def test_bad_samples_raise():
    target = get_target("eight_gaussians")
    with pytest.raises(InvalidInputError, match="shape"):
        evaluate_samples(torch.zeros(10, 3), target)
    x = torch.randn(10, 2)
    x[[1, 4], 0] = float("nan")
    x[7, 1] = float("inf")
    with pytest.raises(InvalidInputError, match="3 of 10"):
        evaluate_samples(x, target)
    with pytest.raises(InvalidInputError):
        evaluate_samples(torch.zeros(1, 2), target)


def test_target_without_sampler_is_not_applicable():
    target = get_target("logreg_breast_cancer")
    with pytest.raises(NotApplicableError, match="no exact sampler"):
        evaluate_samples(torch.zeros(10, *target.event_shape), target)
