"""The `guidance` demo in quick mode: it runs, writes its keys and its figure."""

from __future__ import annotations

import pytest

from genmodels.demos.guidance import GUIDANCE, run


@pytest.mark.slow  # ~4 s, plus ~9 s when this session has not yet trained the digits classifier
def test_guidance_demo_quick(tmp_path, one_thread) -> None:
    r = run(tmp_path, seed=0, quick=True)
    assert (tmp_path / r["figure"]).stat().st_size > 1000
    assert r["num_classes"] == 10 and r["guidance"] == list(GUIDANCE)
    runs = [r["by_guidance"][str(w)] for w in GUIDANCE]
    for run_w in runs:
        assert set(run_w) >= {"accuracy", "fd", "fd_floor", "precision", "recall", "nfe"}
        assert 0 <= run_w["accuracy"] <= 1 and run_w["fd"] > 0
    assert [x["nfe"] for x in runs] == [
        r["sampler"]["steps"] * (1 if w == 0 else 2) for w in GUIDANCE
    ]
    assert r["real_test_accuracy"] > 0.9  # the classifier that judges the classes is sound
    # even 150 training steps give the labels a say, and guidance amplifies it (fixed seed)
    assert runs[-1]["accuracy"] > runs[0]["accuracy"]
