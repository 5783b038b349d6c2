"""`guidance`: classifier-free guidance trades diversity for class fidelity on digits.

A class-conditional DDPM (ε-prediction, TimeMLP on the 64 flattened pixels, a label embedding
added to the time embedding) is trained on `digits` with the label dropped to ∅ one time in
ten, so the same network is also the unconditional model (Ho & Salimans 2022). Sampled at
guidance w ∈ {0, 1, 3} — ε̃ = (1 + w) ε(x | c) − w ε(x | ∅) — each digit class is scored by the
cached digits classifier (accuracy against the requested class), and the whole sample by the
Fréchet distance to the training digits and k-NN precision/recall. The claim: guidance raises
class accuracy (and precision) while the samples of a class grow alike (recall falls, and fd
eventually rises).
"""

from __future__ import annotations

import itertools
from pathlib import Path

import torch

from genmodels.demos._plot import pyplot
from genmodels.demos._train import train_digits_ddpm
from genmodels.demos.base import register_demo, save_figure, write_result
from genmodels.targets import get_target

__all__: list[str] = []

GUIDANCE = (0.0, 1.0, 3.0)


@register_demo(
    "guidance",
    "classifier-free guidance on a class-conditional DDPM for digits raises the class "
    "accuracy of the samples and costs diversity",
)
def run(out_dir: Path, *, seed: int = 0, quick: bool = False) -> dict:
    """Train a class-conditional DDPM on digits and sample it at several guidance strengths."""
    from genmodels.metrics.image import classifier_accuracy, evaluate_images
    from genmodels.report.grid import image_grid

    out_dir = Path(out_dir)
    digits = get_target("digits")
    ddpm, state = train_digits_ddpm(
        digits.train_x, train_y=digits.train_y, seed=seed, quick=quick, steps=(150, 3000)
    )
    K = ddpm.num_classes
    per_class, steps = (6, 20) if quick else (40, 50)
    labels = torch.arange(K).repeat_interleave(per_class)  # [K·per_class], class-major
    runs, panels = {}, {}
    for w in GUIDANCE:
        g = torch.Generator().manual_seed(seed)  # the same starting noise for every w
        out = ddpm.sample(len(labels), generator=g, sampler="ddim", steps=steps,
                          labels=labels, guidance=w)  # fmt: skip
        x = out.x.clamp(-1, 1).reshape(-1, 1, 8, 8)  # [n, 64] -> [n, 1, 8, 8]
        metrics = evaluate_images(x, digits, seed=seed)
        runs[str(w)] = {
            "accuracy": classifier_accuracy(x, labels, digits),
            "fd": metrics["fd"],
            "fd_floor": metrics["fd_floor"],
            "precision": metrics["precision"],
            "recall": metrics["recall"],
            "nfe": out.nfe,
            "seconds": round(out.seconds, 2),
        }
        shown = x.reshape(K, per_class, 1, 8, 8)[:, : min(per_class, 10)]  # [K, m, 1, 8, 8]
        panels[w] = image_grid(shown.reshape(-1, 1, 8, 8), nrow=shown.shape[1], scale=4)

    plt = pyplot()
    fig, axes = plt.subplots(1, len(GUIDANCE), figsize=(3.2 * len(GUIDANCE), 3.6))
    for ax, w in zip(axes, GUIDANCE, strict=True):
        r = runs[str(w)]
        ax.imshow(panels[w], cmap="gray", vmin=0, vmax=255)
        ax.set_title(
            f"w = {w:g}: accuracy {r['accuracy']:.3f}\nfd {r['fd']:.1f}, recall {r['recall']:.2f}",
            fontsize=9,
        )
        ax.set_yticks([(k + 0.5) * panels[w].shape[0] / K for k in range(K)], range(K))
        ax.set_xticks([])
    axes[0].set_ylabel("requested class")
    fig.suptitle("classifier-free guidance: (1 + w) ε(x | c) − w ε(x | ∅)", fontsize=10, y=1.04)
    save_figure(fig, out_dir / "guidance.png")

    accuracy = [runs[str(w)]["accuracy"] for w in GUIDANCE]
    result = {
        "train_steps": state.step,
        "train_seconds": round(state.seconds, 1),
        "num_classes": K,
        "label_dropout": ddpm.config.label_dropout,
        "sampler": {"name": "ddim", "steps": steps, "eta": 0.0},
        "samples_per_class": per_class,
        "guidance": list(GUIDANCE),
        "by_guidance": runs,
        "accuracy_rises": all(b >= a for a, b in itertools.pairwise(accuracy)),
        "real_test_accuracy": classifier_accuracy(digits.test_x, digits.test_y, digits),
        "figure": "guidance.png",
    }
    return write_result(out_dir, result)
