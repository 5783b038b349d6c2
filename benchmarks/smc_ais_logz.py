"""SMC's and AIS's log Z against the known normalisers of funnel, manywell_32d, gmm40_2d and
gmm40_50d: log Ẑ − log Z with its standard error, ESS/N, modes covered, target evaluations
and CPU (process) seconds on one thread, three seeds each.

PYTHONPATH=src python benchmarks/smc_ais_logz.py [target ...]
"""

from __future__ import annotations

import sys
import time
from dataclasses import fields

import torch

import genmodels  # noqa: F401  (registers the targets and methods)
from genmodels.density import AISSettings, SMCSettings, run_ais, run_smc
from genmodels.metrics.modes import modes_covered
from genmodels.targets import get_target

HMC10 = {"num_steps": 10}
RUNS = [
    ("funnel", "smc", SMCSettings(particles=500, populations=8)),
    ("funnel", "smc", SMCSettings(particles=500, populations=8, kernel="hmc", moves=20,
                                  kernel_options=HMC10, step_jitter=2.0, cess=0.9)),
    ("funnel", "ais", AISSettings(particles=1000, temperatures=200)),
    ("funnel", "ais", AISSettings(particles=1000, temperatures=200, kernel="hmc", moves=2,
                                  kernel_options=HMC10, step_jitter=2.0)),
    ("manywell_32d", "smc", SMCSettings(particles=500, populations=8)),
    ("manywell_32d", "smc", SMCSettings(particles=1000, populations=8, kernel="hmc", moves=3,
                                        kernel_options={"num_steps": 5})),
    ("manywell_32d", "ais", AISSettings(particles=2000, temperatures=200)),
    ("gmm40_2d", "smc", SMCSettings(particles=500, populations=4, reference_scale=20.0)),
    ("gmm40_2d", "ais", AISSettings(particles=2000, temperatures=100, reference_scale=20.0)),
    ("gmm40_50d", "smc", SMCSettings(particles=500, populations=8, reference_scale=20.0)),
    ("gmm40_50d", "ais", AISSettings(particles=2000, temperatures=200, reference_scale=20.0)),
]  # fmt: skip


def _changed(settings: object) -> dict:
    """The settings that differ from their defaults (what a row's label shows)."""
    default = type(settings)()
    return {
        f.name: getattr(settings, f.name)
        for f in fields(settings)
        if getattr(settings, f.name) != getattr(default, f.name)
    }


def main(names: list[str]) -> None:
    torch.set_num_threads(1)
    for name, method, settings in RUNS:
        if names and name not in names:
            continue
        target = get_target(name)
        run = run_smc if method == "smc" else run_ais
        for seed in range(3):
            t0 = time.process_time()
            ws = run(target, settings, seed=seed)
            cpu = time.process_time() - t0
            delta = ws.log_z - target.log_z
            modes = ""
            if target.modes is not None:
                x = ws.resample(4000, torch.Generator().manual_seed(0))
                modes = f" modes {modes_covered(x, target.modes)}/{target.modes.k}"
            print(
                f"{name:13s} {method} seed {seed} {_changed(settings)}: "
                f"dlogZ {delta:+.3f} se {ws.log_z_se:.3f} ({delta / ws.log_z_se:+.1f} se) "
                f"ESS/N {ws.ess:.3f} evals {ws.cost.target_evals} cpu {cpu:.1f}s{modes}",
                flush=True,
            )


if __name__ == "__main__":
    main(sys.argv[1:])
