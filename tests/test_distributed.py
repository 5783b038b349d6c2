"""Sharded work under torchrun: 2 CPU processes (gloo), against one process.

The spawned tests cost a few seconds each (interpreter and process-group start-up): they are
marked slow and kept to one `torchrun` job per property.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from genmodels.distributed import (
    chunk_seed,
    merge_chain_samples,
    rank_seed,
    sample_sharded,
    shard_range,
)
from genmodels.mcmc import sample_chains
from genmodels.training.distributed import DistInfo


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _torchrun(*args: object, cwd: Path, timeout: float = 240, env: dict | None = None):
    """``python -m torch.distributed.run --nproc-per-node 2 ARGS`` on a free local port."""
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
        "--master-addr", "127.0.0.1", "--master-port", str(_free_port()), *map(str, args),
    ]  # fmt: skip
    environ = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore", **(env or {})}
    return subprocess.run(
        command, capture_output=True, text=True, timeout=timeout, cwd=cwd, env=environ
    )


def test_chunk_and_rank_seeds_and_shares() -> None:
    assert chunk_seed(5, 0) == 5 and rank_seed(5, 0) == 5  # one chunk / one rank: unchanged
    seeds = {chunk_seed(5, c) for c in range(1, 50)} | {chunk_seed(6, c) for c in range(1, 50)}
    assert len(seeds) == 98 and all(0 <= s < 2**63 for s in seeds)
    assert rank_seed(5, 1) != chunk_seed(5, 1)
    shares = [shard_range(10, rank=r, world_size=4) for r in range(4)]
    assert [len(s) for s in shares] == [3, 3, 2, 2]
    assert [i for s in shares for i in s] == list(range(10))


class _Noise:
    """A 'model' whose samples are its generator's normal draws: chunking made visible."""

    event_shape = (3,)

    def sample(self, n: int, *, generator: torch.Generator, **options):
        from genmodels.samples import Samples

        return Samples(torch.randn(n, 3, generator=generator), nfe=7, info={"steps": 7.0})


def test_sharded_sampling_does_not_depend_on_the_world_size() -> None:
    """Ranks of 1 and 3 processes draw the same chunks (simulated: each rank's own share)."""
    one = sample_sharded(_Noise(), 1000, seed=3, batch_size=128, info=DistInfo(0, 1, 0, None))
    assert one is not None and one.x.shape == (1000, 3) and one.nfe == 7
    assert torch.equal(one.x[:128], torch.randn(128, 3, generator=torch.Generator().manual_seed(3)))
    g = torch.Generator().manual_seed(chunk_seed(3, 5))  # chunk 5: samples 640..767
    assert torch.equal(one.x[640:768], torch.randn(128, 3, generator=g))
    assert 0.9 < float(one.x.std()) < 1.1  # the chunks are not copies of one stream


def test_merged_chains_keep_every_per_chain_and_per_draw_field() -> None:
    def run(seed: int):
        return sample_chains(
            lambda x: -0.5 * (x**2).sum(-1), "mala", event_shape=(2,), chains=2, draws=30,
            warmup=20, seed=seed, progress=False,
        )  # fmt: skip

    a, b = run(0), run(1)
    a.stats["energy"] = torch.ones(2, 30)  # a statistic a driver may add: it passes along
    b.stats["energy"] = torch.zeros(2, 30)
    b.x, b.stats = b.x[:, :25], {k: v[:, :25] for k, v in b.stats.items()}  # stopped early
    merged = merge_chain_samples([a, b])
    assert merged.chains == 4 and merged.x.shape == (4, 25, 2)
    assert torch.equal(merged.x[2:], b.x) and torch.equal(merged.x[:2], a.x[:, :25])
    assert merged.stats["energy"].shape == (4, 25) and float(merged.stats["energy"].sum()) == 50
    assert merged.step_size.shape == (4,) and merged.inverse_mass.shape == (4, 2)
    assert merged.nfe == a.nfe + b.nfe
    assert merged.info["divergences"] == a.info["divergences"] + b.info["divergences"]
    assert merged.info["draws"] == 25
    expected = float(torch.cat([a.stats["accept_prob"][:, :25], b.stats["accept_prob"]]).mean())
    assert merged.info["accept_rate"] == pytest.approx(expected)


@pytest.fixture(scope="module")
def ddpm_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny DDPM run directory, trained once for the module (a few steps: any model will do,
    the tests compare sampling paths, not quality)."""
    from genmodels.cli import main

    run = tmp_path_factory.mktemp("ddpm") / "run"
    main(["train", "ddpm", "--data", "two_moons", "--out", str(run), "--steps", "5",
          "--set", "model.width=16", "--no-progress"])  # fmt: skip
    return run


def test_refuse_distributed_answers_in_one_line_on_rank_0_only(monkeypatch) -> None:
    from genmodels.distributed import refuse_distributed
    from genmodels.errors import InvalidInputError

    refuse_distributed("x", "why")  # one process: nothing to refuse
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    with pytest.raises(SystemExit) as quiet:
        refuse_distributed("x", "why")
    assert quiet.value.code == 2
    monkeypatch.setenv("RANK", "0")
    expected = r"^`genmodels x` does not run under torchrun: why$"
    with pytest.raises(InvalidInputError, match=expected):
        refuse_distributed("x", "why")


def test_blocked_precision_recall_equals_one_block(monkeypatch) -> None:
    """k-NN distances in row blocks (memory-bounded) give the one-block values exactly."""
    from genmodels.metrics import image

    g = torch.Generator().manual_seed(0)
    real, fake = torch.randn(300, 4, generator=g), 0.5 + torch.randn(250, 4, generator=g)
    whole = image.precision_recall(real, fake)
    monkeypatch.setattr(image, "_DISTANCE_BLOCK_ENTRIES", 300 * 37)  # blocks of 37 rows
    assert image.precision_recall(real, fake) == whole
    assert 0.2 < whole[0] < 0.95 and 0.2 < whole[1] < 0.95


@pytest.mark.slow
def test_sharded_sample_matches_one_process(tmp_path: Path, cli, ddpm_run: Path) -> None:
    options = ("-n", "2500", "--batch-size", "300", "--seed", "4", "--steps", "8")
    sample = ("-m", "genmodels", "sample", ddpm_run, *options, "--out", "a.npz")
    proc = _torchrun(*sample, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("wrote 2500 samples") == 1  # rank 0 alone reports and writes
    cli("sample", ddpm_run, *options, "--out", tmp_path / "b.npz", check=True)
    a, b = np.load(tmp_path / "a.npz")["x"], np.load(tmp_path / "b.npz")["x"]
    assert a.shape == b.shape == (2500, 2)
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-5)
    assert np.abs(a[:300] - a[300:600]).max() > 0.1  # chunks draw different noise


_GAUSSIAN = textwrap.dedent(
    """
    import sys
    from genmodels.cli import main
    from genmodels.targets.base import TARGETS
    from genmodels.targets.posteriors import IllConditionedGaussian

    @TARGETS.register("gaussian_3d_test")
    class Gaussian3(IllConditionedGaussian):
        def __init__(self):
            super().__init__(dim=3, condition=9.0)

    main(["mcmc", "--target", "gaussian_3d_test", "--chains", "4", "--draws", "200",
          "--warmup", "150", "--seed", "0", "--out", sys.argv[1], "--no-plots", "--json"])
    """
)


@pytest.mark.slow
def test_sharded_chains_are_reproducible_and_recover_a_gaussian(tmp_path: Path) -> None:
    import arviz as az

    from genmodels.targets.posteriors import IllConditionedGaussian

    (tmp_path / "gauss.py").write_text(_GAUSSIAN)
    proc = _torchrun("gauss.py", "out", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["chains"] == 4 and summary["max_r_hat"] < 1.05
    data = az.from_netcdf(tmp_path / "out" / "posterior.nc")
    x = torch.as_tensor(data.posterior["x"].values).float()  # [chains, draws, 3]
    assert x.shape == (4, 200, 3) and data.sample_stats["diverging"].shape == (4, 200)
    # reproducible at world size 2: rank 1 ran chains 2 and 3 from rank_seed(0, 1)
    target = IllConditionedGaussian(dim=3, condition=9.0)
    rank1 = sample_chains(
        target, "nuts", chains=2, draws=200, warmup=150, seed=rank_seed(0, 1), progress=False
    )
    torch.testing.assert_close(x[2:], rank1.x, rtol=0, atol=1e-6)
    # the gathered chains recover the moments within 4 Monte Carlo standard errors
    mcse_mean = torch.as_tensor(az.mcse(data, method="mean")["x"].values)
    mcse_sd = torch.as_tensor(az.mcse(data, method="sd")["x"].values)
    flat = x.reshape(-1, 3).double()
    sd = target.variance.double().sqrt()
    assert (flat.mean(0).abs() < 4 * mcse_mean).all(), (flat.mean(0), mcse_mean)
    assert ((flat.std(0) - sd).abs() < 4 * mcse_sd).all(), (flat.std(0), sd, mcse_sd)


_FAILING = textwrap.dedent(
    """
    import os, sys, time
    from genmodels.cli import main
    run = sys.argv[1]
    if os.environ["RANK"] == "1":
        if sys.argv[2] == "stall":  # alive, never arrives: only the timeout ends the job
            time.sleep(600)
        run += "-missing-on-this-machine"  # a failure on one rank only
    main(["sample", run, "-n", "100", "--steps", "2", "--out", "x.npz"])
    """
)


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["error", "stall"])
def test_a_failing_rank_ends_the_job_in_one_line(tmp_path: Path, ddpm_run: Path, mode: str):
    (tmp_path / "fail.py").write_text(_FAILING)
    start = time.monotonic()
    env = {"GENMODELS_DIST_TIMEOUT": "5"}
    proc = _torchrun("fail.py", ddpm_run, mode, cwd=tmp_path, timeout=120, env=env)
    assert proc.returncode != 0 and time.monotonic() - start < 120
    ours = [line for line in proc.stderr.splitlines() if line.startswith("genmodels: error")]
    if mode == "error":
        assert any("(rank 1 of 2): no checkpoint in " in line for line in ours), ours
    else:
        assert any("(rank 0 of 2): another rank failed or did not answer" in line for line in ours)
    frames = [line for line in proc.stderr.splitlines() if line.strip().startswith('File "')]
    assert not [f for f in frames if "genmodels" in f], frames  # no rank's traceback: one line
    assert not (tmp_path / "x.npz").exists()


def _json_documents(text: str) -> list[dict]:
    """The JSON objects printed one after another on ``text``."""
    decoder, docs, i = json.JSONDecoder(), [], 0
    while (i := text.find("{", i)) >= 0:
        doc, i = decoder.raw_decode(text, i)
        docs.append(doc)
    return docs


_EVALUATE = textwrap.dedent(
    """
    import sys
    from genmodels.cli import main
    from genmodels.metrics import image

    image._DISTANCE_BLOCK_ENTRIES = int(sys.argv[1])  # several k-NN blocks on each rank
    image._FEATURE_BATCH = 512  # the three image sets in 5 batches
    for name, target in (("toy.npz", "eight_gaussians"), ("img.npz", "digits")):
        main(["evaluate", name, "--target", target, "--seed", "3", "--json"])
    """
)


@pytest.mark.slow
def test_sharded_evaluate_matches_one_process(tmp_path: Path, cli, monkeypatch) -> None:
    """MMD's pair sums (row blocks over the ranks), image features (batches over the ranks)
    and precision/recall (k-NN blocks over the ranks): one process's metrics to 1e-6."""
    from genmodels.metrics import image
    from genmodels.targets import get_target

    g = torch.Generator().manual_seed(1)
    toy = get_target("eight_gaussians").sample(2000, generator=g)
    np.savez(tmp_path / "toy.npz", x=(toy + 0.3 * torch.randn(toy.shape, generator=g)).numpy())
    images = get_target("digits").test_set()[:300]
    np.savez(tmp_path / "img.npz", x=images.flip(-1).numpy())  # mirrored digits: not data
    entries = 300 * 64
    one = []
    for name, target in (("toy.npz", "eight_gaussians"), ("img.npz", "digits")):
        args = ("evaluate", tmp_path / name, "--target", target, "--seed", "3", "--json")
        unblocked = json.loads(cli(*args, check=True).stdout)  # trains the classifier once
        with monkeypatch.context() as m:
            m.setattr(image, "_DISTANCE_BLOCK_ENTRIES", entries)
            m.setattr(image, "_FEATURE_BATCH", 512)
            one.append(json.loads(cli(*args, check=True).stdout))
        assert one[-1] == unblocked  # blocks and batches change no value in one process
    (tmp_path / "evaluate.py").write_text(_EVALUATE)
    proc = _torchrun("evaluate.py", entries, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    two = _json_documents(proc.stdout)
    assert len(two) == 2  # rank 0 alone prints
    for a, b in zip(one, two, strict=True):
        assert a.keys() == b.keys()
        for key, value in a.items():
            exact = isinstance(value, (int, dict))
            assert b[key] == (value if exact else pytest.approx(value, rel=1e-6)), key
    assert one[0]["mmd"] > 2 * one[0]["mmd_floor"] and one[0]["modes_covered"] == 8
    assert one[1]["fd"] > one[1]["fd_floor"] and 0 < one[1]["precision"] < 1


_TINY_COMPARE = """
n_samples = 300
[methods.flow.train]
steps = 40
[methods.nuts]
chains = 4
draws = 120
warmup = 80
[methods.flow_mh]
chains = 2
draws = 150
[methods.flow_mh.fit]
steps = 30
"""


@pytest.mark.slow
def test_sharded_compare_writes_one_report_from_rank_0(tmp_path: Path) -> None:
    (tmp_path / "tiny.toml").write_text(_TINY_COMPARE)
    args = ("--target", "eight_gaussians", "--methods", "flow,nuts,flow_mh", "--no-budget")
    proc = _torchrun("-m", "genmodels", "compare", *args, "--config", "tiny.toml", "--out", "c",
                     cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("report: ") == 1  # rank 0 alone speaks
    assert proc.stderr.count("[1/3] flow (map): running") == 1
    result = json.loads((tmp_path / "c" / "results.json").read_text())
    rows = {row["method"]: row for row in result["methods"]}
    assert [row["status"] for row in rows.values()] == ["ok", "ok", "ok"]
    flow, nuts, hybrid = rows["flow"], rows["nuts"], rows["flow_mh"]
    assert flow["notes"]["distributed"].startswith("trained data-parallel on 2 ranks")
    assert flow["notes"]["train_steps"] == 40 and flow["cost"]["n"] == 300
    assert 0 < flow["metrics"]["mmd"] < 1 and flow["metrics"]["modes_covered"] >= 1
    assert json.loads((tmp_path / "c" / "flow" / "config.json").read_text())["world_size"] == 2
    assert nuts["notes"]["distributed"] == "4 chains split over 2 ranks"
    assert nuts["cost"]["n"] == 4 * 120 and nuts["chain"]["max_r_hat"] > 0
    x = np.load(tmp_path / "c" / "nuts" / "samples.npz")["x"]
    assert x.shape == (4, 120, 2) and np.abs(x[:2] - x[2:]).max() > 0.1  # two ranks' streams
    assert hybrid["notes"]["distributed"].startswith("ran on rank 0 alone")
    assert hybrid["cost"]["n"] == 2 * 150 and (tmp_path / "c" / "index.html").is_file()


_FAILING_COMPARE = textwrap.dedent(
    """
    import os
    import genmodels.mcmc
    from genmodels.cli import main

    if os.environ["RANK"] == "1":  # rank 1's chains fail while rank 0 waits to gather them
        def broken(*args, **kwargs):
            raise RuntimeError("rank 1's chains broke")
        genmodels.mcmc.sample_chains = broken
    main(["compare", "--methods", "nuts", "--out", "c", "--no-budget", "--config", "tiny.toml",
          "--quiet"])
    """
)


@pytest.mark.slow
def test_a_rank_failing_in_compare_ends_the_job_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "tiny.toml").write_text(_TINY_COMPARE)
    (tmp_path / "fail.py").write_text(_FAILING_COMPARE)
    proc = _torchrun("fail.py", cwd=tmp_path, timeout=120, env={"GENMODELS_DIST_TIMEOUT": "20"})
    assert proc.returncode != 0
    ours = [line for line in proc.stderr.splitlines() if line.startswith("genmodels: error")]
    line = (
        "genmodels: error (rank 1 of 2): nuts failed on this rank, so the job ends: "
        "RuntimeError: rank 1's chains broke"
    )
    assert ours and line in proc.stderr, ours  # ranks share stderr: lines may interleave
    frames = [line for line in proc.stderr.splitlines() if line.strip().startswith('File "')]
    assert not [f for f in frames if "genmodels" in f], frames
    assert not (tmp_path / "c" / "results.json").exists()
