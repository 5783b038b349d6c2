"""Sharded work after training: samples, chains and likelihoods split over `torchrun` ranks.

Training shards the data (DDP, `genmodels.training.distributed`); what comes after it
shards the *draws*. The rule that makes a sharded result independent of the number of
ranks: work is cut into fixed-size **chunks** whose randomness is seeded by
``(seed, chunk index)`` (`chunk_seed`), ranks take chunks round-robin, and rank 0 puts them
back in order. One process runs the very same chunks, so ``torchrun --nproc-per-node 8``
and a plain run write the same samples. Chains are different: a chain's randomness is one
stream for its whole run, so a rank runs its share of the chains from its own seed
(`rank_seed`): reproducible for a given seed *and* world size.

Rank 0 gathers everything (`gather_objects`, with the collective timeout of
`init_distributed`) and alone writes files; the other ranks return ``None``.

Metrics shard the other way round: every rank computes its blocks of a pairwise sum or its
batches of image features, and every rank receives the whole (`all_sum`,
`sharded_batches`), so the cheap rest of a metric is the same on every rank and rank 0
prints it. The blocks and batches are those one process takes, so the result is one
process's (features exactly, sums up to the order of float64 additions). Work that does not
split runs on rank 0 while the others wait (`on_rank_zero`, `rank_zero_first`).

Example:
    >>> from genmodels.distributed import chunk_seed, shard_range
    >>> chunk_seed(7, 0), shard_range(10, rank=1, world_size=4)
    (7, range(3, 6))
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import math
import os
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor
from tqdm.auto import tqdm

from genmodels.errors import DistributedError, InvalidInputError
from genmodels.samples import Samples
from genmodels.training.distributed import (
    TIMEOUT_ENV,
    DistInfo,
    init_distributed,
    is_main_process,
)

__all__ = [
    "all_sum",
    "barrier",
    "chunk_seed",
    "default_batch_size",
    "gather_objects",
    "is_main_process",
    "join",
    "launched_rank",
    "merge_chain_samples",
    "on_rank_zero",
    "rank_failure",
    "rank_seed",
    "rank_zero_first",
    "refuse_distributed",
    "sample_sharded",
    "shard_range",
    "sharded_batches",
    "sharded_chains",
    "sharded_nll",
    "world_size",
]

T = TypeVar("T")


def world_size() -> int:
    """Processes of the job `torchrun` describes in the environment (1 outside one)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def launched_rank() -> int:
    """This process's rank as `torchrun` set it in the environment (0 outside one), known
    before the process group is joined: who speaks and who writes."""
    return int(os.environ.get("RANK", "0"))


def _mix(seed: int, *words: int) -> int:
    """A 63-bit seed from ``seed`` and ``words`` (NumPy's SeedSequence hash: no two chunks of
    one job, nor chunks of nearby seeds, share a stream)."""
    state = np.random.SeedSequence([seed, *words]).generate_state(1, dtype=np.uint64)[0]
    return int(state >> np.uint64(1))


def chunk_seed(seed: int, index: int) -> int:
    """The seed of chunk ``index`` of a job seeded ``seed``.

    Chunk 0 keeps ``seed`` itself, so a job of one chunk draws exactly what it drew before
    work was chunked; later chunks hash ``(seed, index)``.
    """
    return seed if index == 0 else _mix(seed, index)


def rank_seed(seed: int, rank: int) -> int:
    """The seed of rank ``rank``'s chains: ``seed`` on rank 0 (so one process is unchanged),
    a hash of ``(seed, rank)`` elsewhere (its own stream, disjoint from `chunk_seed`'s)."""
    return seed if rank == 0 else _mix(seed, rank, 1)


def shard_range(total: int, *, rank: int, world_size: int) -> range:
    """The contiguous share of ``total`` items of rank ``rank``: sizes differ by at most one,
    the first ``total % world_size`` ranks taking one more."""
    base, extra = divmod(total, world_size)
    start = rank * base + min(rank, extra)
    return range(start, start + base + (rank < extra))


def default_batch_size(event_shape: tuple[int, ...]) -> int:
    """Samples per chunk when ``--batch-size`` is not given: a fixed number per kind of
    event (it decides the chunks, hence the samples), small enough for an image network's
    activations to stay within a few GB."""
    return 1000 if len(event_shape) <= 1 else 250


def join(device: torch.device | None = None) -> DistInfo:
    """Join the `torchrun` process group, if any (idempotent), and leave it at exit.

    ``device`` is where this rank works (a CUDA rank moves to ``cuda:LOCAL_RANK``); default
    torch's default device.
    """
    device = torch.get_default_device() if device is None else torch.device(device)
    if world_size() > 1 and not dist.is_initialized():
        try:
            info = init_distributed(device)
        except (RuntimeError, dist.DistError) as e:  # a rank never arrived at the rendezvous
            raise _peer_error(e) from None
        atexit.register(_leave)
        return info
    if dist.is_initialized():
        if device.type == "cuda":
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        return DistInfo(dist.get_rank(), dist.get_world_size(), 0, device)
    return DistInfo(0, 1, 0, device)


def _leave() -> None:
    if dist.is_initialized():
        with contextlib.suppress(Exception):  # exiting anyway; a peer may already be gone
            dist.destroy_process_group()


def refuse_distributed(command: str, why: str) -> None:
    """Under `torchrun`, refuse ``command`` in one line (rank 0's; the other ranks exit with
    the same code in silence) instead of running it W times over the same files."""
    if world_size() > 1:
        if launched_rank() != 0:
            raise SystemExit(2)
        raise InvalidInputError(f"`genmodels {command}` does not run under torchrun: {why}")


def gather_objects(obj: Any, info: DistInfo) -> list[Any] | None:
    """Every rank's ``obj`` (picklable; tensors on the CPU) on rank 0, in rank order;
    ``None`` on the other ranks. One process returns ``[obj]``.

    Raises:
        DistributedError: a rank died or did not arrive within the collective timeout
            (``$GENMODELS_DIST_TIMEOUT``), as one line instead of a backend traceback.
    """
    if not info.distributed:
        return [obj]
    out: list[Any] | None = [None] * info.world_size if info.rank == 0 else None
    try:
        dist.gather_object(obj, out, dst=0)
    except (RuntimeError, dist.DistError) as e:
        raise _peer_error(e) from None
    return out


def _peer_error(e: BaseException) -> DistributedError:
    """A backend's failure as one line: which rank is where, and the backend's own reason."""
    text = str(e).strip()
    first = text.splitlines()[0] if text else type(e).__name__
    reason = first.split("] ", 1)[-1]  # gloo prefixes its source file and line
    return DistributedError(
        f"another rank failed or did not answer within ${TIMEOUT_ENV} seconds (its error, if "
        f"any, is above); {reason[:120]}"
    )


def rank_failure(what: str, e: BaseException) -> DistributedError:
    """The one line that ends a job when ``what`` failed on this rank while the ranks were
    working together (the others wait in a collective this rank will never join): a
    backend's failure as `gather_objects` words it, any other error with its type."""
    if isinstance(e, dist.DistError):  # the backend's: a peer died or timed out
        return _peer_error(e)
    if isinstance(e, DistributedError):
        return e
    text = str(e).strip().splitlines()
    reason = f"{type(e).__name__}: {text[0]}" if text else type(e).__name__
    return DistributedError(f"{what} failed on this rank, so the job ends: {reason[:200]}")


def _collective_device(info: DistInfo) -> torch.device:
    """Where a collective's tensor lives: the rank's CUDA device under NCCL, else the CPU."""
    return info.device if dist.get_backend() == "nccl" else torch.device("cpu")


def barrier(info: DistInfo | None) -> None:
    """Wait until every rank of the job arrives (nothing in one process or without a job).

    Raises:
        DistributedError: a rank died or did not arrive within ``$GENMODELS_DIST_TIMEOUT``.
    """
    if info is None or not info.distributed:
        return
    try:
        if dist.get_backend() == "nccl":
            dist.barrier(device_ids=[info.device.index or 0])
        else:
            dist.barrier()
    except (RuntimeError, dist.DistError) as e:
        raise _peer_error(e) from None


def all_sum(values: Tensor | Sequence[float], info: DistInfo | None) -> Tensor:
    """The element-wise sums over the ranks of each rank's ``values`` (float64, on the CPU),
    every rank receiving them; ``values`` themselves in one process.

    Raises:
        DistributedError: as `barrier`.
    """
    t = torch.as_tensor(values, dtype=torch.float64).detach().cpu()
    if info is None or not info.distributed:
        return t
    t = t.to(_collective_device(info))
    try:
        dist.all_reduce(t)
    except (RuntimeError, dist.DistError) as e:
        raise _peer_error(e) from None
    return t.cpu()


def _all_gather_objects(obj: Any, info: DistInfo) -> list[Any]:
    out: list[Any] = [None] * info.world_size
    try:
        dist.all_gather_object(out, obj)
    except (RuntimeError, dist.DistError) as e:
        raise _peer_error(e) from None
    return out


def sharded_batches(
    fn: Callable[[Tensor], Tensor],
    parts: Sequence[Tensor],
    batch_size: int,
    info: DistInfo | None = None,
) -> list[Tensor]:
    """``[cat(fn(batch) for batch in part.split(batch_size)) for part in parts]``, with the
    batches of all parts split over the ranks in turn and every rank receiving every result.

    The batches are the ones one process takes, so for a row-wise ``fn`` (a network's
    forward pass in eval mode) the result is one process's; several parts share one round
    of batches, so small sets still keep every rank busy. ``fn``'s outputs travel through
    the CPU.
    """
    batches = [(i, b) for i, part in enumerate(parts) for b in part.split(batch_size)]
    if info is None or not info.distributed:
        mine = [(c, fn(b)) for c, (_, b) in enumerate(batches)]
    else:
        own = range(info.rank, len(batches), info.world_size)
        gathered = _all_gather_objects([(c, fn(batches[c][1]).cpu()) for c in own], info)
        mine = sorted((p for rank_parts in gathered for p in rank_parts), key=lambda p: p[0])
    out = []
    for i in range(len(parts)):
        rows = [y for c, y in mine if batches[c][0] == i]
        out.append(torch.cat(rows) if rows else fn(parts[i][:0]))
    return out


def on_rank_zero(work: Callable[[], T], info: DistInfo | None) -> T | None:
    """``work()`` on rank 0 alone while the other ranks wait at a barrier (with the
    collective timeout), for work that does not split over ranks; ``None`` on the others.
    Rank 0 reaches the barrier even when ``work`` raises (then it re-raises)."""
    if info is None or not info.distributed:
        return work()
    try:
        return work() if info.rank == 0 else None
    finally:
        barrier(info)


def rank_zero_first(work: Callable[[], T], info: DistInfo | None) -> T:
    """``work()`` on every rank, rank 0's first: what it caches (a trained feature network)
    the others then find instead of each computing it again."""
    if info is None or not info.distributed:
        return work()
    if info.rank == 0:
        try:
            return work()
        finally:
            barrier(info)
    barrier(info)
    return work()


def _chunk_options(options: dict[str, Any], start: int, size: int) -> dict[str, Any]:
    """The sampler options of one chunk: per-sample tensors (``labels [n]``) are sliced."""
    return {
        k: v[start : start + size] if isinstance(v, Tensor) and v.ndim > 0 else v
        for k, v in options.items()
    }


def _draw_chunks(
    model: Any,
    n: int,
    seed: int,
    batch_size: int,
    info: DistInfo,
    bar: Any,
    callback: Any,
    options: dict[str, Any],
) -> list[tuple[int, Tensor, int, dict[str, float]]]:
    """This rank's chunks (``c = rank, rank + W, ...``), each from its own seeded generator."""
    chunks = math.ceil(n / batch_size)
    parts = []
    for k, c in enumerate(range(info.rank, chunks, info.world_size)):
        start = c * batch_size
        size = min(batch_size, n - start)
        seed_c = chunk_seed(seed, c)
        torch.manual_seed(seed_c)  # any global-RNG use inside a sampler is repeatable too
        extra = {"callback": callback} if c == 0 and callback is not None else {}
        s = model.sample(
            size,
            generator=torch.Generator().manual_seed(seed_c),
            **_chunk_options(options, start, size),
            **extra,
        )
        parts.append((c, s.x.detach().cpu(), s.nfe, dict(s.info)))
        bar.update(min(n, (k + 1) * info.world_size * batch_size) - bar.n)  # all ranks' work
    return parts


def sample_sharded(
    model: Any,
    n: int,
    *,
    seed: int = 0,
    batch_size: int | None = None,
    info: DistInfo | None = None,
    progress: bool = False,
    callback: Any = None,
    **options: Any,
) -> Samples | None:
    """``n`` draws of ``model.sample`` in chunks of ``batch_size``, split over the ranks.

    Chunk ``c`` holds samples ``[c·B, (c+1)·B)`` and draws its noise from a CPU generator
    seeded `chunk_seed` ``(seed, c)``, so the result depends on ``seed`` and ``batch_size``
    but not on the number of ranks; memory holds one chunk on the device at a time.

    Args:
        model: anything with ``sample(n, generator=..., **options) -> Samples``.
        batch_size: samples per chunk (default `default_batch_size` of the model's events).
        info: the job (default `join`'s); ``progress``: one bar over the job, on rank 0.
        callback: the sampler's step callback, passed to chunk 0 only (a GIF of its paths).
        **options: the sampler's options; a per-sample tensor (``labels [n]``) is sliced.

    Returns:
        on rank 0 the `Samples` in chunk order (``nfe``: the largest chunk's network
        evaluations per sample path; ``seconds``: wall time of the whole job; ``info``:
        chunk 0's); ``None`` on the other ranks.
    """
    info = join() if info is None else info
    batch_size = batch_size or default_batch_size(tuple(model.event_shape))
    if n < 1 or batch_size < 1:
        raise InvalidInputError(f"need n >= 1 and batch size >= 1, got {n} and {batch_size}")
    t0 = time.perf_counter()
    show = progress and info.rank == 0
    with tqdm(total=n, disable=None if show else True, leave=False, desc="sampling") as bar:
        parts = _draw_chunks(model, n, seed, batch_size, info, bar, callback, options)
    gathered = gather_objects(parts, info)
    if gathered is None:
        return None
    chunks = sorted((p for rank_parts in gathered for p in rank_parts), key=lambda p: p[0])
    x = torch.cat([p[1] for p in chunks])  # [n, *event]
    nfe = max(p[2] for p in chunks)
    return Samples(x, nfe=nfe, seconds=time.perf_counter() - t0, info=chunks[0][3])


def sharded_nll(
    model: Any,
    x: Tensor,
    *,
    num_levels: int | None = None,
    seed: int = 0,
    batch_size: int = 1000,
    info: DistInfo | None = None,
) -> dict[str, Any] | None:
    """`genmodels.models.likelihood.dataset_nll` with the test points split over the ranks.

    Batch ``c`` of ``x`` is dequantised with a generator seeded `chunk_seed` ``(seed, c)``,
    so the NLL does not depend on the number of ranks; rank 0 gathers the per-point
    log-likelihoods and reduces them (mean and standard error). ``None`` on other ranks.
    """
    from genmodels.models.likelihood import check_scorable, nll_summary, point_log_prob

    info = join() if info is None else info
    check_scorable(model, x)
    chunks = x.split(batch_size)
    mine = []
    for c in range(info.rank, len(chunks), info.world_size):
        torch.manual_seed(chunk_seed(seed, c))  # a bound's own noise (a VAE's) is repeatable
        g = torch.Generator().manual_seed(chunk_seed(seed, c))
        mine.append((c, point_log_prob(model, chunks[c], num_levels=num_levels, generator=g)))
    gathered = gather_objects(mine, info)
    if gathered is None:
        return None
    ordered = sorted((p for rank_parts in gathered for p in rank_parts), key=lambda p: p[0])
    return nll_summary(model, torch.cat([p[1] for p in ordered]), num_levels=num_levels)


def sharded_chains(
    run: Callable[[int, int, range], Samples],
    chains: int,
    seed: int,
    info: DistInfo | None = None,
) -> Samples | None:
    """Run ``chains`` chains split over the ranks and gather them on rank 0.

    ``run(local_chains, local_seed, global_indices)`` runs this rank's share (a contiguous
    range of the global chain indices, e.g. to pick start points) from `rank_seed`; warm-up
    stays per chain. Rank 0 returns `merge_chain_samples` of every rank's result (chains in
    global order), the other ranks ``None``.

    Raises:
        InvalidInputError: fewer chains than ranks (a rank would run none).
    """
    info = join() if info is None else info
    if chains < info.world_size:
        raise InvalidInputError(
            f"--chains {chains} is fewer than the {info.world_size} ranks: give each rank at "
            "least one chain"
        )
    part = shard_range(chains, rank=info.rank, world_size=info.world_size)
    result = run(len(part), rank_seed(seed, info.rank), part)
    gathered = gather_objects(_to_cpu(result), info)
    return None if gathered is None else merge_chain_samples(gathered)


def _to_cpu(value: Any) -> Any:
    """``value`` with every tensor (in dataclass fields and dicts) moved to the CPU."""
    if isinstance(value, Tensor):
        return value.detach().cpu()
    if isinstance(value, dict):
        return {k: _to_cpu(v) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: _to_cpu(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return dataclasses.replace(value, **fields)
    return value


_SUM_INFO = ("divergences", "grad_evals", "cpu_seconds")
_MAX_INFO = ("seconds", "stopped_by_budget")


def _merge_info(parts: list[Samples], chains: list[int], stats: dict[str, Tensor]) -> dict:
    """Run statistics of the gathered chains: counts add up, wall times are the slowest
    rank's, ``draws`` the fewest; ``accept_rate`` is recomputed from the per-draw values;
    any other value is the chain-weighted mean (a statistic a driver adds later included)."""
    merged: dict[str, float] = {}
    for key in parts[0].info:
        values = [float(p.info.get(key, math.nan)) for p in parts]
        if key.startswith(_SUM_INFO):
            merged[key] = sum(values)
        elif key.startswith(_MAX_INFO):
            merged[key] = max(values)
        elif key == "draws":  # what is kept: every rank's draws cut to the fewest
            merged[key] = float(min(p.x.shape[1] for p in parts))
        else:
            merged[key] = sum(v * c for v, c in zip(values, chains, strict=True)) / sum(chains)
    accept = stats.get("accept_prob")
    if "accept_rate" in merged and accept is not None and accept.isfinite().any():
        merged["accept_rate"] = float(accept.nanmean())
    return merged


def _join_field(values: list[Any], chains: list[int], draws: list[int], keep: int) -> Any:
    """One field of every rank's result, joined along the chain axis where it has one
    (``[chains, draws, ...]`` arrays cut to the common ``keep`` draws); other values are
    rank 0's."""
    first = values[0]
    if isinstance(first, dict):
        return {k: _join_field([v[k] for v in values], chains, draws, keep) for k in first}
    per_chain = all(
        isinstance(v, Tensor) and v.ndim > 0 and v.shape[0] == c
        for v, c in zip(values, chains, strict=True)
    )
    if not per_chain:
        return first
    per_draw = all(v.ndim >= 2 and v.shape[1] == d for v, d in zip(values, draws, strict=True))
    return torch.cat([v[:, :keep] if per_draw else v for v in values])


def merge_chain_samples(parts: list[Samples]) -> Samples:
    """The chains of every rank's result as one result, in rank order.

    Draws and every per-chain field (``stats`` of each draw, whatever a driver records
    there; adapted step sizes; mass matrices) are joined along the chain axis; when the
    ranks stopped at different draw counts (a time budget) all are cut to the fewest.
    """
    if len(parts) == 1:
        return parts[0]
    chains = [p.x.shape[0] for p in parts]
    own = [p.x.shape[1] for p in parts]
    draws = min(own)
    fields = {
        f.name: _join_field([getattr(p, f.name) for p in parts], chains, own, draws)
        for f in dataclasses.fields(parts[0])
        if f.name not in ("x", "chains", "nfe", "seconds", "info")
    }
    stats = fields.get("stats", {})
    return dataclasses.replace(
        parts[0],
        x=torch.cat([p.x[:, :draws] for p in parts]),  # [chains, draws, *event]
        chains=sum(chains),
        nfe=sum(p.nfe for p in parts),
        seconds=max(p.seconds for p in parts),
        info=_merge_info(parts, chains, stats if isinstance(stats, dict) else {}),
        **fields,
    )
