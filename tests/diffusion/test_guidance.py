"""Class-conditional diffusion and classifier-free guidance (Ho & Salimans 2022)."""

from __future__ import annotations

import pytest
import torch

from genmodels.catalogue import get_method, list_methods
from genmodels.diffusion.guidance import Guidance, drop_labels, guided_prediction
from genmodels.diffusion.samplers import noise_like, sample_ddim, sample_heun
from genmodels.errors import ConfigError, InvalidInputError, NotApplicableError
from genmodels.nets.mlp import TimeMLP
from genmodels.nets.unet import UNet
from genmodels.targets import get_target
from genmodels.targets.mixture import GaussianMixture
from genmodels.training import TrainConfig, fit, load_model

SMALL = {"width": 16, "depth": 1, "unet_base": 8, "unet_blocks": 1}


def build(name: str = "ddpm", event=(2,), **cfg):
    cls = get_method(name).build
    torch.manual_seed(0)
    model = cls(cls.Config(**{**SMALL, "num_classes": 3, **cfg}), event)
    with torch.no_grad():  # leave the zero-initialised output layers non-trivial
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return model.eval()


def two_gaussians() -> GaussianMixture:
    """Two well separated components; each is its own mode, so the label is the component."""
    return GaussianMixture(torch.tensor([[-2.0, 0.0], [2.0, 0.0]]), 0.4)


# ---- networks and labels -----------------------------------------------------------------


@pytest.mark.parametrize(
    "net, x",
    [
        (lambda k: TimeMLP(2, width=16, depth=1, num_classes=k), torch.randn(4, 2)),
        (lambda k: UNet(1, base=8, mults=(1, 2), blocks=1, num_classes=k), torch.randn(4, 1, 8, 8)),
    ],
    ids=["mlp", "unet"],
)
def test_networks_embed_labels_and_the_null_label(net, x) -> None:
    torch.manual_seed(0)
    conditional = net(3)
    torch.nn.init.normal_(conditional.out[-1].weight)  # the U-Net zero-initialises its output
    t = torch.full((4,), 500.0)
    a, b = conditional(x, t, torch.tensor([0, 0, 1, 2])), conditional(x, t, torch.full((4,), 1))
    assert not torch.allclose(a[0], b[0]) and torch.allclose(a[2], b[2])
    assert torch.equal(conditional(x, t), conditional(x, t, torch.full((4,), 3)))  # None = ∅
    with pytest.raises(InvalidInputError, match="num_classes=0"):
        net(0)(x, t, torch.zeros(4, dtype=torch.long))


def test_label_dropout_rate_in_the_loss() -> None:
    """The loss feeds the network labels of which a share p_uncond was replaced by ∅ (= K)."""
    model = build(num_classes=10, label_dropout=0.2)
    seen: list[torch.Tensor] = []
    model.net.label_embed.register_forward_hook(lambda mod, args, out: seen.append(args[0]))
    labels = torch.arange(20_000) % 10
    torch.manual_seed(1)
    model.loss(torch.randn(20_000, 2), labels=labels)
    (fed,) = seen
    dropped = fed == 10
    # binomial: sd = √(0.2·0.8/20000) = 0.0028; 4 sd
    assert dropped.float().mean().item() == pytest.approx(0.2, abs=0.012)
    assert torch.equal(fed[~dropped], labels[~dropped])
    assert torch.equal(
        drop_labels(labels, build(label_dropout=0.0).config.label_dropout, 10), labels
    )


def test_bad_labels_and_guidance_are_clear_errors() -> None:
    model = build()
    with pytest.raises(InvalidInputError, match="num_classes=0"):
        build(num_classes=0).sample(2, labels=1, steps=2)
    with pytest.raises(InvalidInputError, match=r"0\.\.2"):
        model.sample(2, labels=3, steps=2)
    with pytest.raises(InvalidInputError, match="shape"):
        model.sample(2, labels=torch.tensor([0, 1, 2]), steps=2)
    with pytest.raises(InvalidInputError, match="integer"):
        model.sample(2, labels=torch.tensor([0.0, 1.0]), steps=2)
    with pytest.raises(InvalidInputError, match="needs labels"):
        model.sample(2, guidance=1.0, steps=2)
    with pytest.raises(InvalidInputError, match=">= 0"):
        model.sample(2, labels=1, guidance=-1.0, steps=2)
    with pytest.raises(NotApplicableError, match="label_dropout=0"):
        build(label_dropout=0.0).sample(2, labels=1, guidance=1.0, steps=2)
    with pytest.raises(ConfigError):
        build(label_dropout=1.0)


# ---- the guidance combination --------------------------------------------------------------


def test_guidance_combination_against_a_hand_computation() -> None:
    calls: list[int] = []

    def fn(x, t, labels=None):  # a toy "network": linear in x, distinct per label
        calls.append(x.shape[0])
        scale = torch.ones(x.shape[0]) if labels is None else (labels + 1).float()
        return x * scale[:, None] + t[:, None]

    x, t = torch.tensor([[1.0, 2.0], [3.0, 4.0]]), torch.tensor([0.5, 0.25])
    c, null = torch.tensor([0, 2]), torch.tensor([5, 5])
    assert Guidance()(fn) is fn
    assert torch.equal(Guidance(c, 0.0, 5)(fn)(x, t), fn(x, t, labels=c))  # w = 0: conditional
    calls.clear()
    guided = Guidance(c, 2.0, 5)(fn)(x, t)
    assert calls == [4]  # one batched pass: conditional and ∅ halves
    by_hand = 3 * (x * torch.tensor([[1.0], [3.0]]) + t[:, None]) - 2 * (6 * x + t[:, None])
    assert torch.allclose(guided, by_hand)
    assert torch.allclose(guided, guided_prediction(fn(x, t, labels=c), fn(x, t, labels=null), 2))


def test_guided_samplers_use_the_guided_prediction() -> None:
    """DDIM (guiding ε̂) and Heun (guiding the denoiser) against loops run on hand-guided
    functions: (1 + w) f(x | c) − w f(x | ∅) with two separate network calls."""
    model, w = build(), 2.0
    c = torch.tensor([0, 1, 2, 1])
    null = torch.full_like(c, 3)

    def hand(fn):
        return lambda x, t: (1 + w) * fn(x, t, c) - w * fn(x, t, null)

    out = model.sample(4, generator=torch.Generator().manual_seed(0), sampler="ddim", steps=5,
                       labels=c, guidance=w, eta=0.0)  # fmt: skip
    x_T = noise_like(torch.empty(4, 2), torch.Generator().manual_seed(0))
    timesteps = model.schedule.timesteps(5, model.config.spacing)
    with torch.no_grad():
        ref = sample_ddim(hand(model.predict_eps), x_T, model.schedule, timesteps, eta=0.0)
    torch.testing.assert_close(out.x, ref, rtol=1e-4, atol=1e-5)
    assert out.nfe == 2 * 5
    assert out.info["guidance"] == w

    out = model.sample(4, generator=torch.Generator().manual_seed(0), sampler="heun", steps=4,
                       labels=c, guidance=w)  # fmt: skip
    sigmas = model.process.sigmas(4, model.config.spacing)  # Heun's default: the DDPM's spacing
    x_T = noise_like(torch.empty(4, 2), torch.Generator().manual_seed(0))
    x_hat = x_T * model.process.start_std_hat(sigmas[0])
    with torch.no_grad():
        ref = sample_heun(hand(model.denoiser), x_hat, sigmas)
    torch.testing.assert_close(out.x, ref, rtol=1e-4, atol=1e-4)
    plain = model.sample(4, generator=torch.Generator().manual_seed(0), sampler="heun", steps=4)
    assert not torch.allclose(out.x, plain.x)


@pytest.mark.parametrize("name", sorted(s.name for s in list_methods("diffusion")))
def test_every_method_trains_and_samples_with_labels(name) -> None:
    model = build(name)
    loss = model.loss(torch.randn(8, 2), labels=torch.randint(0, 3, (8,)))
    loss.backward()
    assert model.net.label_embed.table.weight.grad is not None
    for sampler in model.samplers:
        opts = {"steps_per_level": 2} if sampler == "annealed_langevin" else {}
        plain = model.sample(3, sampler=sampler, steps=3, labels=1, **opts)
        out = model.sample(3, sampler=sampler, steps=3, labels=1, guidance=1.0, **opts)
        assert out.x.shape == (3, 2) and torch.isfinite(out.x).all()
        if sampler != "dopri5":  # adaptive steps: the NFE depends on the trajectory
            assert out.nfe == 2 * plain.nfe


# ---- training: fit feeds labels, and the labels are learned ---------------------------------


def test_fit_needs_a_labelled_target() -> None:
    config = TrainConfig(steps=1, batch_size=8, progress=False, device="cpu")
    with pytest.raises(ConfigError, match="no labels"):
        fit(build(), get_target("swiss_roll"), config)
    with pytest.raises(ConfigError, match="8 classes"):
        fit(build(), get_target("eight_gaussians"), config)


def test_conditional_ddpm_samples_the_requested_component(tmp_path) -> None:
    """Known answer: on two well separated Gaussians labelled by component, a sample with
    label k lies in component k; the ∅ branch (label dropout) still samples both."""
    target = two_gaussians()
    DDPM = get_method("ddpm").build
    torch.manual_seed(0)
    model = DDPM(DDPM.Config(width=64, depth=2, num_classes=2, timesteps=200), (2,))
    config = TrainConfig(steps=300, batch_size=128, lr=2e-3, ema_decay=0.0, progress=False,
                         device="cpu", checkpoint_every=300)  # fmt: skip
    fit(model, target, config, tmp_path / "run")
    model, saved = load_model(tmp_path / "run")  # the checkpoint carries the label table
    assert saved["model_config"]["num_classes"] == 2 and model.num_classes == 2
    g = torch.Generator().manual_seed(0)
    for k in (0, 1):
        for w, floor in ((0.0, 0.95), (3.0, 0.99)):
            x = model.sample(1000, generator=g, labels=k, guidance=w, steps=25).x
            assert (target.assign_modes(x) == k).float().mean() >= floor, (k, w)
    x = model.sample(1000, generator=g, steps=25).x
    assert 0.3 < target.assign_modes(x).float().mean() < 0.7
