"""The langevin-weights claim at quick scale (exact scores, so it is cheap): the full claim."""

from __future__ import annotations

import pytest
import torch

# thousands of tiny steps: a second intra-op thread only adds synchronisation
pytestmark = pytest.mark.usefixtures("one_thread")


def test_plain_langevin_wrong_annealed_right(tmp_path) -> None:
    from genmodels.demos.langevin_weights import run

    r = run(tmp_path, seed=0, quick=True)
    minor = r["true_weights"].index(min(r["true_weights"]))
    assert r["true_weights"][minor] == pytest.approx(0.2)
    assert abs(r["weights_langevin"][minor] - 0.2) >= 0.15
    assert abs(r["weights_annealed"][minor] - 0.2) <= 0.05
    assert r["langevin"]["nfe"] == r["annealed"]["nfe"]
    assert (tmp_path / r["figure"]).is_file()


def test_modes_visited_counts_distinct_modes_per_chain() -> None:
    from genmodels.demos.mixing import modes_visited

    labels = torch.tensor([[0, 0, 1, 1, 2], [3, 3, 3, 3, 3]])
    assert modes_visited(labels, 4).tolist() == [1.0, 1.0, 1.5, 1.5, 2.0]
