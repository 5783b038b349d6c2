"""Data-parallel training: 2 CPU processes (gloo) under torch.distributed.run."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap

import pytest

_SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    import torch
    import torch.distributed as dist
    from genmodels.targets import get_target
    from genmodels.training import TrainConfig, fit
    from genmodels.training.setup import build_model

    out = sys.argv[1]
    config = TrainConfig(steps=4, batch_size=32, warmup_steps=1, progress=False, device="cpu")
    # Different initial weights per rank: DDP must broadcast rank 0's before training.
    model = build_model("gan", (2,), {"hidden": 16, "depth": 2}, seed=int(os.environ["RANK"]))
    state = fit(model, get_target("eight_gaussians"), config, out)
    rank = dist.get_rank()
    weights = {k: v.flatten().tolist() for k, v in model.state_dict().items()}
    weights.update({"ema." + k: v.flatten().tolist() for k, v in state.ema.shadow.items()})
    with open(f"{out}/rank{rank}.json", "w") as f:
        json.dump({"world": dist.get_world_size(), "weights": weights,
                   "loss": state.losses}, f)
    dist.barrier()  # tear down together: a rank leaving while a peer is mid-call can abort
    dist.destroy_process_group()
    """
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_cpu_ranks_hold_identical_weights(tmp_path) -> None:
    script = tmp_path / "train_ddp.py"
    script.write_text(_SCRIPT)
    out = tmp_path / "run"
    out.mkdir()
    proc = subprocess.run(
        [
            sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
            "--master-addr", "127.0.0.1", "--master-port", str(_free_port()),
            str(script), str(out),
        ],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    ranks = [json.loads((out / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert ranks[0]["world"] == ranks[1]["world"] == 2
    assert ranks[0]["weights"] == ranks[1]["weights"]  # DDP kept the replicas in sync
    assert ranks[0]["loss"] != ranks[1]["loss"]  # but each rank saw its own data
    config = json.loads((out / "config.json").read_text())  # written once, by rank 0
    assert config["world_size"] == 2 and config["step"] == 4
