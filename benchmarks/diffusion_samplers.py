"""Diffusion sampler benchmarks (not part of `make test`).

(a) overhead: wall time of our DDIM / DDPM loops and of diffusers' DDIMScheduler /
    DDPMScheduler loops, divided by the time of the bare network evaluations they make
    (same network, batch and steps). Goal ≤ 1.05×.
(b) quality vs NFE on eight_gaussians, with the exact ε-network of the target (a Gaussian
    mixture, so every noised marginal is known in closed form): the fewest NFE at which each
    sampler's MMD to exact draws reaches that of 1,000-step ancestral sampling. This measures
    the samplers' discretisation error alone, free of training error. Goal ≤ 20 NFE.
    With ``--digits DIR`` (a `genmodels train ddpm --data digits` run), the same question on
    digits with the trained network, quality measured by the offline Fréchet distance ``fd``.
(c) the few-step table: mmd / mmd_floor (5,000 samples, 3 seeds) at 5, 8, 10, 15, 20, 50 NFE
    for every registered solver a DDPM or VP SDE offers, on the exact ε of eight_gaussians, each
    on its registered default grid, with diffusers' counterpart schedulers (their default
    configs on the same linear-β table) beside ours on the same ε and the same x_T. With
    ``--part digits``: the same on a trained digits DDPM, in fd.
(grids) the grid sweep behind the solvers' default grids and σ_min rules
    (`grids.few_step_sigma_min`, `grids.sde_few_step_sigma_min`, Heun on the DDPM's spacing):
    any solvers, step counts, σ_min values and grids, seeded as part (c) (not in ``all``).
(digits) a DDPM trained on the bundled 8×8 digits with the library's train path (fixed steps,
    CPU, one thread; ``--digits DIR`` reuses a run there): fd of every solver at 5, 10, 20 NFE
    against 1,000-step ancestral sampling on the same model and against the converged PF-ODE
    (DPM-Solver++(2M) at 100 and 200 NFE, dopri5), with the seed spread of fd and the floor of
    real images at the same n (not in ``all``).

Usage:
    PYTHONPATH=src python benchmarks/diffusion_samplers.py [--part a|b|c|grids|digits|all]
        [--threads 1] [--digits runs/digits-ddpm [--digits-n 1000] [--skip-toy]]
        [--digits-train-steps 3000] [--solvers a,b (part digits: only these rows)]
        [--steps 5,8] [--sigma-mins 0.1,0.4] [--grids logsnr,trailing] [--seeds 3]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time

import torch

from genmodels.diffusion.samplers import NFECounter, sample_ddim, sample_ddpm
from genmodels.diffusion.schedules import DiscreteSchedule
from genmodels.diffusion.solvers import get_solver
from genmodels.nets.mlp import TimeMLP


def _best_of(fns: dict, repeats: int) -> dict[str, float]:
    """Best process (CPU) time of each function, timed in turns (round-robin) so that a change
    in machine load between measurements hits every contestant alike. Process time, not wall
    time: on a shared machine the wall clock also counts other processes' turns (the
    benchmark runs single-threaded, ``--threads 1``, so CPU time is the loop's own cost)."""
    best = dict.fromkeys(fns, math.inf)
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.process_time()
            fn()
            best[name] = min(best[name], time.process_time() - start)
    return best


def ode_overhead(batch: int = 1024, steps: int = 20, repeats: int = 7) -> dict[str, float]:
    """Part (a) for the σ̂-grid solvers: solver time / time of its ``steps`` bare denoiser
    calls D(x̂; σ̂) = x̂ − σ̂ ε̂(x̂, σ̂) on the same TimeMLP, batch and grid (one NFE per step)."""
    from genmodels.diffusion.grids import karras_sigmas

    torch.manual_seed(0)
    net = TimeMLP(2, width=128, depth=3).eval()
    sigmas = karras_sigmas(steps, 0.09, 80.0)
    x_T = torch.randn(batch, 2) * 80

    def den(x, s):
        return x - s[:, None] * net(x, s)

    @torch.no_grad()
    def bare():
        x = x_T
        for s in sigmas[:-1].tolist():
            x = den(x, x.new_full((batch,), s))

    contestants = {"bare": bare}
    for name in ("dpmpp_2m", "dpmpp_3m", "unipc", "ipndm", "euler_ancestral", "dpmpp_2m_sde"):
        fn = get_solver(name).fn
        contestants[name] = lambda fn=fn: fn(
            den, x_T, sigmas, generator=torch.Generator().manual_seed(0)
        )
    best = _best_of(contestants, repeats)
    out = {f"ode_{steps}_bare_s": best["bare"]}
    out.update({f"{k}_{steps}_x": v / best["bare"] for k, v in best.items() if k != "bare"})
    return out


def overhead(batch: int = 1024, repeats: int = 7) -> dict[str, float]:
    """Part (a): loop time / bare network time for DDIM (50 steps) and DDPM (250 steps)."""
    torch.manual_seed(0)
    net = TimeMLP(2, width=128, depth=3).eval()
    schedule = DiscreteSchedule.linear()
    x_T = torch.randn(batch, 2)
    results: dict[str, float] = {}
    try:
        import diffusers
    except ImportError:
        diffusers = None
    for kind, steps in (("ddim", 50), ("ddpm", 250)):
        timesteps = schedule.timesteps(steps)

        @torch.no_grad()
        def bare(timesteps=timesteps):
            x = x_T
            for t in timesteps.tolist():
                x = net(x, x.new_full((batch,), t))

        def ours(timesteps=timesteps, kind=kind):
            g = torch.Generator().manual_seed(0)
            if kind == "ddim":
                sample_ddim(net, x_T, schedule, timesteps)
            else:
                sample_ddpm(net, x_T, schedule, timesteps, generator=g)

        contestants = {"bare": bare, "ours": ours}
        if diffusers is not None:
            cls = diffusers.DDIMScheduler if kind == "ddim" else diffusers.DDPMScheduler
            scheduler = cls(num_train_timesteps=1000, clip_sample=False)

            @torch.no_grad()
            def theirs(scheduler=scheduler, steps=steps):
                scheduler.set_timesteps(steps)
                g = torch.Generator().manual_seed(0)
                x = x_T
                for t in scheduler.timesteps:
                    eps = net(x, x.new_full((batch,), float(t)))
                    x = scheduler.step(eps, t, x, generator=g).prev_sample

            contestants["diffusers"] = theirs
        best = _best_of(contestants, repeats)
        results[f"{kind}_{steps}_bare_s"] = best["bare"]
        for name in ("ours", "diffusers"):
            if name in best:
                results[f"{kind}_{steps}_{name}_x"] = best[name] / best["bare"]
    return results


# ---- part (b) -------------------------------------------------------------------------------

STEP_GRID = (3, 4, 5, 6, 8, 10, 12, 15, 20, 25, 30, 40, 50, 75, 100, 150, 200, 300, 500, 1000)


def fewest_nfe(measure, bar: float) -> dict[str, object]:
    """Walk `STEP_GRID` until ``measure(steps) -> (value, nfe)`` is within 1.05× ``bar``."""
    curve = []
    for steps in STEP_GRID:
        value, nfe = measure(steps)
        curve.append((nfe, round(value, 5)))
        if value <= bar * 1.05:
            return {"nfe_to_match": nfe, "curve": curve}
    return {"nfe_to_match": None, "curve": curve}


class ExactEps:
    """ε*(x_t) = −σ ∇ log p_t for a Gaussian-mixture target (Σₖ wₖ N(μₖ, sₖ² I))."""

    def __init__(self, target) -> None:
        self.means, self.stds, self.weights = target.means, target.stds, target.weights

    def __call__(self, x: torch.Tensor, alpha: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        a, s = alpha.reshape(-1, 1), sigma.reshape(-1, 1)
        var = a**2 * self.stds**2 + s**2  # [B, K]
        mu = a[:, :, None] * self.means  # [B, K, d]
        sq = (x[:, None, :] - mu).square().sum(-1)
        logits = self.weights.log() - 0.5 * sq / var - var.log() * (x.shape[1] / 2)
        r = torch.softmax(logits, -1)
        score = (r[:, :, None] * (mu - x[:, None, :]) / var[:, :, None]).sum(1)
        return -s * score


def mmd(x: torch.Tensor, y: torch.Tensor, bandwidths=(0.25, 0.5, 1.0, 2.0)) -> float:
    """Biased MMD² with a sum of RBF kernels: the library's blocked `mmd2` (same statistic,
    about 10× faster than dense kernels at 5,000 points: no denormal kernel entries)."""
    from genmodels.metrics.distances import mmd2

    return mmd2(x.float(), y.float(), bandwidths)


def quality_vs_nfe(n: int = 4000, seeds: int = 3) -> dict[str, object]:
    """Part (b): fewest NFE reaching the MMD of 1000-step ancestral sampling (mean over seeds)."""
    from genmodels.targets.base import get_target

    target = get_target("eight_gaussians")
    eps_fn = ExactEps(target)
    schedule = DiscreteSchedule.linear()
    ref = target.sample(n, torch.Generator().manual_seed(999))

    def ddpm_eps(x, t):
        alpha, sigma = (c.to(x) for c in schedule.alpha_sigma(t.long()))
        return eps_fn(x, alpha, sigma)

    def denoiser(x_hat, sigma_hat):
        return x_hat - sigma_hat[:, None] * eps_fn(x_hat, torch.ones_like(sigma_hat), sigma_hat)

    def run(name: str, steps: int, seed: int) -> tuple[torch.Tensor, int]:
        g = torch.Generator().manual_seed(seed)
        x_T = torch.randn(n, 2, generator=g)
        spec = get_solver(name)  # the solver and its default grid, as the models run it
        if spec.family == "discrete":
            eps = NFECounter(ddpm_eps)
            x = spec.fn(eps, x_T, schedule, schedule.timesteps(steps, "trailing"), generator=g)
            return x, eps.nfe
        sigmas = schedule.sigmas(steps, schedule.grid_for(spec.grid))
        den = NFECounter(denoiser)
        x = spec.fn(den, x_T * math.sqrt(1 + float(sigmas[0]) ** 2), sigmas)
        return x, den.nfe

    def score(name: str, steps: int) -> tuple[float, int]:
        vals, nfe = [], 0
        for seed in range(seeds):
            x, nfe = run(name, steps, seed)
            vals.append(mmd(x, ref))
        return sum(vals) / len(vals), nfe

    target_mmd, _ = score("ancestral", 1000)
    floor = sum(mmd(target.sample(n, torch.Generator().manual_seed(s)), ref) for s in range(seeds))
    out: dict[str, object] = {"ancestral_1000_mmd": target_mmd, "mmd_floor": floor / seeds}
    for name in ("ancestral", "ddim", "euler", "heun", "dpmpp_2m"):
        out[name] = fewest_nfe(lambda steps, name=name: score(name, steps), target_mmd)
        print(name, out[name], flush=True)
    return out


def quality_vs_nfe_digits(run_dir: str, n: int = 1000) -> dict[str, object]:
    """Part (b) on digits: fewest NFE at which each sampler's ``fd`` reaches 1.05× that of
    1,000-step ancestral sampling, with a trained DDPM (same starting seed for every run)."""
    from genmodels.metrics.image import evaluate_images
    from genmodels.targets.base import get_target
    from genmodels.training.checkpoint import load_model

    target = get_target("digits")
    model, _ = load_model(run_dir)

    def fd(name: str, steps: int) -> tuple[float, int]:
        out = model.sample(n, generator=torch.Generator().manual_seed(0), sampler=name, steps=steps)
        return evaluate_images(out.x.clamp(-1, 1), target)["fd"], out.nfe

    target_fd, _ = fd("ancestral", 1000)
    out: dict[str, object] = {"ancestral_1000_fd": round(target_fd, 3), "n": n}
    print("ancestral 1000 fd", target_fd, flush=True)
    for name in ("ddim", "euler", "heun", "dpmpp_2m"):
        out[name] = fewest_nfe(lambda steps, name=name: fd(name, steps), target_fd)
        print(name, out[name], flush=True)
    return out


# ---- part (c) -------------------------------------------------------------------------------

NFES = (5, 8, 10, 15, 20, 50)
ADAPTIVE = ("dopri5", "annealed_langevin")  # NFE set by tolerance / levels: not on a fixed-NFE row


def _diffusers_counterparts() -> dict[str, object]:
    """Our solver name → a factory of diffusers' counterpart (its default config on the same
    linear-β table, 1,000 steps; their own timestep spacing and final step). iPNDM's nearest
    is PNDM's PLMS. Heun's default table is Stable Diffusion's (β 0.00085–0.012, σ̂ from 25),
    another model's noise: it gets ours, β 1e-4–0.02, like every other counterpart."""
    import diffusers as d

    dpm = d.DPMSolverMultistepScheduler
    same_table = {"beta_start": 1e-4, "beta_end": 0.02, "beta_schedule": "linear"}
    return {
        "ancestral": lambda: d.DDPMScheduler(clip_sample=False),
        "ddim": lambda: d.DDIMScheduler(clip_sample=False),
        "euler": d.EulerDiscreteScheduler,
        "heun": lambda: d.HeunDiscreteScheduler(**same_table),
        "dpmpp_2m": lambda: dpm(solver_order=2),
        "dpmpp_3m": lambda: dpm(solver_order=3),
        "dpmpp_2m_sde": lambda: dpm(solver_order=2, algorithm_type="sde-dpmsolver++"),
        "unipc": d.UniPCMultistepScheduler,
        "euler_ancestral": d.EulerAncestralDiscreteScheduler,
        "ipndm": lambda: d.PNDMScheduler(skip_prk_steps=True),
    }


def _steps_within(nfe: int, calls_of) -> int:
    """The most steps whose network calls ``calls_of(steps)`` stay within ``nfe``."""
    return max(s for s in range(1, nfe + 1) if calls_of(s) <= nfe)


def _run_diffusers(
    make, eps_fn, x_T: torch.Tensor, nfe: int, seed: int
) -> tuple[torch.Tensor, int]:
    """diffusers' loop with ``eps_fn(x_t, α, σ)``: native schedulers (init_noise_sigma = 1) at
    integer timesteps of their ᾱ table, EDM-style ones (Euler, Heun) at their σ̂."""
    import inspect

    def calls_of(steps: int) -> int:
        sch = make()
        sch.set_timesteps(steps)
        return len(sch.timesteps)

    scheduler = make()
    scheduler.set_timesteps(_steps_within(nfe, calls_of))
    native = float(scheduler.init_noise_sigma) == 1.0
    kwargs = {}
    if "generator" in inspect.signature(scheduler.step).parameters:
        kwargs["generator"] = torch.Generator().manual_seed(10_000 + seed)
    x = x_T * scheduler.init_noise_sigma
    for t in scheduler.timesteps:
        x_in = scheduler.scale_model_input(x, t)
        if native:
            ac = scheduler.alphas_cumprod[int(t)].to(x)
            alpha, sigma = ac.sqrt(), (1 - ac).sqrt()
        else:
            sigma_hat = scheduler.sigmas[scheduler.step_index].to(x)
            alpha = 1 / (1 + sigma_hat**2).sqrt()
            sigma = sigma_hat * alpha
        n = x.shape[0]
        eps = eps_fn(x_in, alpha.expand(n), sigma.expand(n))
        x = scheduler.step(eps, t, x, **kwargs).prev_sample
    return x, len(scheduler.timesteps)


def _run_ours(
    name: str, eps_fn, x_T: torch.Tensor, nfe: int, seed: int
) -> tuple[torch.Tensor, int]:
    """Solver ``name`` as a linear-β DDPM (or, for the SDE family, a VP SDE) runs it: its spec's
    default grid on that process, the largest step count within ``nfe`` network calls."""
    from genmodels.diffusion.sde import VPSDE

    spec = get_solver(name)
    g = torch.Generator().manual_seed(10_000 + seed)
    if spec.family == "sde":
        sde = VPSDE()
        steps = nfe // 2 if name == "pc" else nfe
        score = NFECounter(lambda x, t: -eps_fn(x, *sde.marginal(t)) / sde.marginal(t)[1][:, None])
        x = spec.fn(score, sde, x_T * sde.prior_std, sde.times(steps), generator=g)
        return x, score.nfe
    schedule = DiscreteSchedule.linear()
    if spec.family == "discrete":
        grid = schedule.grid_for(spec.grid)
        eps = NFECounter(lambda x, t: eps_fn(x, *(c.to(x) for c in schedule.alpha_sigma(t.long()))))
        x = spec.fn(eps, x_T, schedule, schedule.timesteps(nfe, grid), generator=g, **spec.options)
        return x, eps.nfe
    steps = (nfe + 1) // 2 if name == "heun" else nfe  # Heun: 2N − 1 calls
    sigmas = spec.sigmas_on(schedule, steps)  # the grid and σ_min rule the ode driver uses
    den = NFECounter(lambda x, s: x - s[:, None] * eps_fn(x, torch.ones_like(s), s))
    x_hat = x_T * schedule.start_std_hat(float(sigmas[0]))
    return spec.fn(den, x_hat, sigmas, generator=g, **spec.options), den.nfe


def quality_table(n: int = 5000, seeds: int = 3, nfes=NFES, names=None) -> dict[str, object]:
    """Part (c): mmd / mmd_floor of each solver (ours, diffusers') at each NFE, mean of seeds."""
    from genmodels.diffusion.solvers import SOLVERS
    from genmodels.targets.base import get_target

    target = get_target("eight_gaussians")
    eps_fn = ExactEps(target)
    ref = target.sample(n, torch.Generator().manual_seed(999))
    floor = sum(mmd(target.sample(n, torch.Generator().manual_seed(s)), ref) for s in range(seeds))
    floor /= seeds
    try:
        theirs = _diffusers_counterparts()
    except ImportError:
        theirs = {}
    names = names or [k for k, v in SOLVERS.items() if v.family != "langevin" and k not in ADAPTIVE]
    rows: dict[str, object] = {"mmd_floor": floor, "n": n, "seeds": seeds}
    for name in names:
        contestants = {"ours": _run_ours}
        if name in theirs:
            contestants["diffusers"] = lambda *a, make=theirs[name]: _run_diffusers(make, *a)
        for who, runner in contestants.items():
            row = {}
            for nfe in nfes:
                vals, used = [], nfe
                for seed in range(seeds):
                    x_T = torch.randn(n, 2, generator=torch.Generator().manual_seed(seed))
                    x, used = (
                        runner(name, eps_fn, x_T, nfe, seed)
                        if who == "ours"
                        else runner(eps_fn, x_T, nfe, seed)
                    )
                    vals.append(mmd(x.float(), ref) / floor)
                row[nfe] = (round(sum(vals) / seeds, 2), used)
            rows[f"{name}/{who}"] = row
            print(name, who, json.dumps(row), flush=True)
    return rows


def sigma_min_sweep(
    n: int = 5000,
    seeds: int = 3,
    steps=(5, 8, 10, 20),
    sigma_mins=(0.01, 0.03, 0.1, 0.2, 0.35, 0.6),
    names=("dpmpp_2m", "unipc", "dpmpp_3m", "ipndm"),
    grids=("logsnr", "karras"),
) -> dict[str, object]:
    """Part (grids): mmd / mmd_floor of each solver (its registered options) on grids of the
    linear-β DDPM: log-SNR and ρ = 7 from σ̂ = 80 down to each of ``sigma_mins``, and its
    timestep spacings (``leading``, ``trailing``, ``linspace``: the σ̂ of the timesteps, no
    σ_min); x_T and the solvers' noise seeded as in part (c), so a grid's entry is the part (c)
    entry it would give. The measurement behind the solvers' grids and σ_min rules
    (`grids.few_step_sigma_min`, docs/design-notes.md)."""
    from genmodels.diffusion.schedules import SPACINGS
    from genmodels.targets.base import get_target

    target = get_target("eight_gaussians")
    eps_fn = ExactEps(target)
    schedule = DiscreteSchedule.linear()
    ref = target.sample(n, torch.Generator().manual_seed(999))
    floor = sum(mmd(target.sample(n, torch.Generator().manual_seed(s)), ref) for s in range(3)) / 3

    def den(x, s):
        return x - s[:, None] * eps_fn(x, torch.ones_like(s), s)

    def score(name: str, sigmas: torch.Tensor) -> float:
        spec, total = get_solver(name), 0.0
        for seed in range(seeds):
            x_T = torch.randn(n, 2, generator=torch.Generator().manual_seed(seed))
            x_hat = x_T * schedule.start_std_hat(float(sigmas[0]))
            g = torch.Generator().manual_seed(10_000 + seed)
            total += mmd(spec.fn(den, x_hat, sigmas, generator=g, **spec.options), ref) / floor
        return round(total / seeds, 2)

    out: dict[str, object] = {"mmd_floor": floor, "seeds": seeds, "n": n}
    for N in steps:
        for grid in grids:
            row = {}
            for lo in (None,) if grid in SPACINGS else sigma_mins:
                sigmas = schedule.sigmas(N, grid, sigma_min=lo)
                row[str(lo or grid)] = {name: score(name, sigmas) for name in names}
            out[f"{N}/{grid}"] = row
            print(N, grid, json.dumps(row), flush=True)
    return out


DIGITS_NFES = (5, 10, 20)
DIGITS_TRAIN_STEPS = 3000
"""`genmodels train ddpm --data digits`'s own step count (the image kind's default): ≈ 11
CPU-minutes single-threaded here, under the 15 the shared machine allows."""


def train_digits(run_dir: str, steps: int = DIGITS_TRAIN_STEPS) -> dict[str, object]:
    """Train a DDPM on the bundled 8×8 digits into ``run_dir`` through the library's own path
    (`build_model` + `fit` with the image kind's defaults, as ``genmodels train ddpm --data
    digits`` does), on the CPU, single-threaded, for a fixed ``steps``; a run already there is
    reused. Returns the training's process (CPU) seconds, not wall time (shared machine)."""
    from pathlib import Path

    from genmodels.targets.base import get_target
    from genmodels.training import TrainConfig, fit
    from genmodels.training.defaults import kind_defaults
    from genmodels.training.setup import build_model

    if (Path(run_dir) / "config.json").exists():
        return {"run": run_dir, "reused": True}
    target = get_target("digits")
    defaults = kind_defaults("ddpm", target.kind)
    model = build_model("ddpm", target.event_shape, defaults.get("model"), seed=0)
    train = {**defaults.get("train", {}), "steps": steps, "device": "cpu", "progress": False}
    start = time.process_time()
    state = fit(model, target, TrainConfig(**train), run_dir)
    cpu = time.process_time() - start
    return {"run": run_dir, "steps": state.step, "train_cpu_s": round(cpu, 1), "reused": False}


DIGITS_ODE_REFERENCES = (("dpmpp_2m", 100), ("dpmpp_2m", 200), ("dopri5", None))
"""The PF-ODE at many steps (and adaptively, dopri5 at its default tolerance): the converged
ODE of the same network, which separates a solver's discretisation error from the gap
between the deterministic ODE and the stochastic ancestral sampler on an imperfect network."""
DIGITS_NOISE_SEEDS = (1, 2, 3)
DIGITS_FLOOR_SIZES = (45, 60, 90, 119, 179, 359)


def digits_fd_floor(n: int) -> dict[str, float]:
    """The fd floor of real images at ``n`` when the test split is smaller (359 digits): the
    floor measured at ``DIGITS_FLOOR_SIZES`` (disjoint test subsets against the train split),
    fitted by a + b/m (the Fréchet distance's Tr Σ / m bias), read at m = n."""
    from genmodels.metrics.image import evaluate_images
    from genmodels.targets.base import get_target

    target = get_target("digits")
    test = target.test_set()
    sizes = [m for m in DIGITS_FLOOR_SIZES if m <= len(test)]
    floors = [evaluate_images(test[:m], target)["fd_floor"] for m in sizes]
    design = torch.tensor([[1.0, 1.0 / m] for m in sizes], dtype=torch.float64)
    a, b = torch.linalg.lstsq(design, torch.tensor(floors, dtype=torch.float64)[:, None]).solution
    measured = {m: round(f, 3) for m, f in zip(sizes, floors, strict=True)}
    return {"at_n": round(float(a + b / n), 3), "limit": round(float(a), 3), "measured": measured}


def _alive(pid: int) -> bool:
    """Whether process ``pid`` still runs (a measurement it marked pending will come)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def digits_fd(run_dir: str, n: int):
    """``fd(name, steps, seed=0) -> (fd, nfe)`` of ``n`` images the trained DDPM in ``run_dir``
    draws with a solver from seed ``seed``, cached in ``run_dir`` (per ``n`` and checkpoint
    step) so that a rerun, or a second process measuring other rows at the same time, reuses
    each measurement (one it finds marked pending by a live process it waits for);
    ``fresh=True`` measures anew (a solver whose grid changed)."""
    from pathlib import Path

    from genmodels.io import write_json
    from genmodels.metrics.image import evaluate_images
    from genmodels.targets.base import get_target
    from genmodels.training.checkpoint import load_model

    target = get_target("digits")
    model, cfg = load_model(run_dir)
    path = Path(run_dir) / f"bench_fd_n{n}_step{cfg.get('step', 'last')}.json"

    def read() -> dict:
        return json.loads(path.read_text()) if path.exists() else {}

    def fd(name: str, steps: int | None, seed: int = 0, fresh: bool = False) -> tuple[float, int]:
        key = f"{name}/{steps}/{seed}"
        while not fresh and isinstance(pending := read().get(key), dict) and _alive(pending["pid"]):
            time.sleep(10)  # another process is measuring it
        if isinstance(value := read().get(key), list) and not fresh:
            return tuple(value)
        write_json(path, {**read(), key: {"pid": os.getpid()}})
        out = model.sample(
            n, generator=torch.Generator().manual_seed(seed), sampler=name, steps=steps
        )
        value = (round(evaluate_images(out.x.clamp(-1, 1), target)["fd"], 3), out.nfe)
        write_json(path, {**read(), key: value})  # read again: another process's entries too
        return value

    fd.samplers = list(model.samplers)
    return fd


def digits_references(fd, n: int) -> dict[str, object]:
    """The ODE references, the seed spread (fd of dpmpp_2m at 20 NFE over seeds 0 and
    `DIGITS_NOISE_SEEDS`), the floor, and last 1,000-step ancestral sampling (the costliest:
    ``fd("ancestral", 1000)`` in a second process at the same time halves the wall time)."""
    out: dict[str, object] = {"n": n}
    for name, steps in DIGITS_ODE_REFERENCES:
        value, used = fd(name, steps)
        out[f"{name}_{used}"] = (value, used)
        print(name, value, used, flush=True)
    spread = [fd("dpmpp_2m", 20, seed)[0] for seed in (0, *DIGITS_NOISE_SEEDS)]
    mean = sum(spread) / len(spread)
    sd = math.sqrt(sum((v - mean) ** 2 for v in spread) / (len(spread) - 1))
    out["seed_spread_dpmpp_2m_20"] = {"fd": spread, "sd": round(sd, 3)}
    out["fd_floor"] = digits_fd_floor(n)
    out["ancestral_1000"] = fd("ancestral", 1000)
    print(out, flush=True)
    return out


def digits_table(run_dir: str, n: int = 1000, nfes=DIGITS_NFES, names=None) -> dict[str, object]:
    """Part (c) on digits: fd of every fixed-NFE solver of a trained DDPM at ``nfes`` (Heun at
    the most steps within each: 2N − 1 calls), each as (fd, ÷ 1,000-step ancestral, ÷ the
    converged ODE (dpmpp_2m at 200 NFE), NFE), the same starting seed for every run; with the
    references of `digits_references`. Rows named in ``names`` are measured anew."""
    fd = digits_fd(run_dir, n)
    fds = {}
    for name in names or fd.samplers:
        if name in ADAPTIVE:
            continue
        steps = {nfe: (nfe + 1) // 2 if name == "heun" else nfe for nfe in nfes}
        fds[name] = {nfe: fd(name, s, fresh=bool(names)) for nfe, s in steps.items()}
        print(name, json.dumps(fds[name]), flush=True)
    refs = digits_references(fd, n)
    ancestral, ode = refs["ancestral_1000"][0], refs["dpmpp_2m_200"][0]
    out: dict[str, object] = {"references": refs}
    for name, row in fds.items():
        out[name] = {
            nfe: (v, round(v / ancestral, 2), round(v / ode, 2), used)
            for nfe, (v, used) in row.items()
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("a", "b", "c", "grids", "digits", "all"), default="all")
    parser.add_argument("--solvers", help="parts c, grids, digits: comma-separated solver names")
    parser.add_argument("--steps", help="part grids: comma-separated step counts")
    parser.add_argument("--sigma-mins", help="part grids: comma-separated σ_min values")
    parser.add_argument("--grids", help="part grids: logsnr, karras, leading, trailing, linspace")
    parser.add_argument("--seeds", type=int, default=3, help="part grids: seeds per entry")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--digits", metavar="DIR", help="a digits ddpm run (part digits: trained there if absent)"
    )
    parser.add_argument("--digits-train-steps", type=int, default=DIGITS_TRAIN_STEPS)
    parser.add_argument("--digits-n", type=int, default=1000, help="images per fd (part b, digits)")
    parser.add_argument("--skip-toy", action="store_true", help="part b on digits only")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    results: dict[str, object] = {}
    if args.part in ("a", "all"):
        results["overhead"] = {**overhead(), **ode_overhead()}
        print(json.dumps(results["overhead"], indent=1), flush=True)
    if args.part in ("b", "all"):
        if not args.skip_toy:
            results["quality_vs_nfe"] = quality_vs_nfe()
        if args.digits:
            results["quality_vs_nfe_digits"] = quality_vs_nfe_digits(args.digits, args.digits_n)
    if args.part in ("c", "all") and not args.skip_toy:
        names = args.solvers.split(",") if args.solvers else None
        results["few_step_table"] = quality_table(names=names)
    if args.part == "digits":
        run_dir = args.digits or "runs/bench-digits-ddpm"
        results["digits_training"] = train_digits(run_dir, args.digits_train_steps)
        print(results["digits_training"], flush=True)
        start = time.process_time()
        names = args.solvers.split(",") if args.solvers else None
        results["digits_table"] = digits_table(run_dir, args.digits_n, names=names)
        results["digits_table"]["sampling_cpu_s"] = round(time.process_time() - start, 1)
    if args.part == "grids":
        sweep = {"names": tuple(args.solvers.split(","))} if args.solvers else {}
        if args.steps:
            sweep["steps"] = tuple(int(v) for v in args.steps.split(","))
        if args.sigma_mins:
            sweep["sigma_mins"] = tuple(float(v) for v in args.sigma_mins.split(","))
        if args.grids:
            sweep["grids"] = tuple(args.grids.split(","))
        results["sigma_min_sweep"] = sigma_min_sweep(seeds=args.seeds, **sweep)
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
