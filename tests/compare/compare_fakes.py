"""Small local runners for testing the comparison driver without training anything."""

from __future__ import annotations

import time

import torch

from genmodels.compare import MethodOutput
from genmodels.errors import NotApplicableError
from genmodels.samples import Samples


class NoisyExact:
    """Exact samples plus Gaussian noise of scale ``noise``; records a fake reverse process."""

    camp = "diffusion"

    def __init__(self, name: str, noise: float, camp: str = "diffusion") -> None:
        self.name, self.noise, self.camp = name, noise, camp
        self.seen_budget: float | None = None

    def parse_settings(self, target, values: dict) -> dict:
        return values

    def check(self, target) -> None:
        if not target.has_samples:
            raise NotApplicableError(f"{self.name} needs samples of {target.name!r}")

    def run(self, target, settings, ctx) -> MethodOutput:
        self.seen_budget = ctx.budget.seconds
        g = torch.Generator().manual_seed(ctx.seed)
        t0 = time.perf_counter()
        x = target.sample(ctx.n_samples, generator=g)
        frames = [x + s * torch.randn(x.shape, generator=g) for s in (3.0, 2.0, 1.0, 0.5, 0.0)]
        x = x + self.noise * torch.randn(x.shape, generator=g)
        samples = Samples(x, nfe=10, seconds=time.perf_counter() - t0)
        return MethodOutput(
            samples,
            train_seconds=0.25,
            trajectory=frames,
            trajectory_label="reverse diffusion",
            settings=settings,
        )


class AR1Chains:
    """Chains of a Gaussian AR(1) process x_t = φ x_{t-1} + √(1-φ²) ε: known ESS."""

    camp = "chain"

    def __init__(self, name: str = "ar1", phi: float = 0.9, chains: int = 4, draws: int = 2000):
        self.name, self.phi, self.chains, self.draws = name, phi, chains, draws

    def parse_settings(self, target, values: dict) -> dict:
        return values

    def check(self, target) -> None:
        if not target.has_log_prob:
            raise NotApplicableError(f"a chain needs a density and {target.name!r} has none")

    def run(self, target, settings, ctx) -> MethodOutput:
        g = torch.Generator().manual_seed(ctx.seed)
        x = torch.empty(self.chains, self.draws, 2)
        current = torch.randn(self.chains, 2, generator=g)
        for t in range(self.draws):
            noise = torch.randn(self.chains, 2, generator=g)
            current = self.phi * current + (1 - self.phi**2) ** 0.5 * noise
            x[:, t] = current
        info = {"accept_rate": 0.9, "divergences": 0.0, "seconds_sampling": 0.5}
        samples = Samples(
            x, chains=self.chains, nfe=3 * x.shape[0] * x.shape[1], seconds=1.0, info=info
        )
        return MethodOutput(samples, settings=settings)


class Exploding:
    camp = "map"

    def __init__(self, name: str = "boom", message: str = "exploded") -> None:
        self.name, self.message = name, message

    def parse_settings(self, target, values: dict) -> dict:
        return values

    def check(self, target) -> None:
        pass

    def run(self, target, settings, ctx) -> MethodOutput:
        raise RuntimeError(self.message)


def simple_mmd_evaluator(x: torch.Tensor, target) -> dict[str, float]:
    """A tiny stand-in for `evaluate_samples`: biased RBF MMD² and its exact-vs-exact floor."""

    def mmd(a: torch.Tensor, b: torch.Tensor) -> float:
        def k(p, q):
            return torch.exp(-(torch.cdist(p, q) ** 2) / 2).mean()

        return float(k(a, a) + k(b, b) - 2 * k(a, b))

    n = x.shape[0]
    ref = target.sample(n, generator=torch.Generator().manual_seed(101))
    other = target.sample(n, generator=torch.Generator().manual_seed(102))
    return {"n": n, "mmd": mmd(x, ref), "mmd_floor": mmd(other, ref)}
