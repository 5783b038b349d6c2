"""A user's own vector data (`DataTarget`): files of any dimension, the split, the
standardisation, and the CLI from train to compare on a 5-D Gaussian mixture."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from genmodels.errors import InvalidInputError
from genmodels.metrics import evaluate_samples
from genmodels.samples import load_samples
from genmodels.targets import DataTarget, GaussianMixture, ImageDataset, get_target
from genmodels.training import load_model

D = 5


def mixture_5d(n: int = 1500, seed: int = 0) -> np.ndarray:
    """Four well separated Gaussians in 5-D, in units far from standard (offset 10, scale 3)."""
    rng = np.random.default_rng(seed)
    centres = 4.0 * rng.normal(size=(4, D))
    x = centres[rng.integers(0, 4, n)] + 0.5 * rng.normal(size=(n, D))
    return (10.0 + 3.0 * x).astype(np.float64)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("own-data")
    x = mixture_5d()
    np.savez(d / "mix.npz", x=x)
    np.save(d / "mix.npy", x)
    header = ",".join(f"col{i}" for i in range(D))
    np.savetxt(d / "mix.csv", x, delimiter=",", header=header, comments="")
    np.savetxt(d / "mix.tsv", x, delimiter="\t")
    return {p.stem + p.suffix: p for p in d.iterdir()}


def test_every_format_gives_the_same_target(files):
    x = mixture_5d()
    targets = [
        get_target(str(files[name])) for name in ("mix.npz", "mix.npy", "mix.csv", "mix.tsv")
    ]
    for t in targets:
        assert isinstance(t, DataTarget) and t.kind == "vector" and t.event_shape == (D,)
        assert len(t.test_set()) == round(0.2 * len(x)) and not t.has_log_prob
        torch.testing.assert_close(t.test_x, targets[0].test_x)  # CSV's text round trip too
    t = targets[0]
    # the train split is standardised; decode gives the user's units back
    assert t.train_x.mean(0).abs().max() < 1e-4
    assert (t.train_x.std(0, correction=0) - 1).abs().max() < 1e-4
    all_rows = torch.cat([t.decode(t.train_x), t.decode(t.test_x)])
    torch.testing.assert_close(all_rows.sort(0).values, torch.as_tensor(x).float().sort(0).values)


def test_split_is_fixed_by_seed_and_fraction_and_recorded():
    x = mixture_5d(200)
    a, b = DataTarget(x), DataTarget(x)
    assert torch.equal(a.test_x, b.test_x)
    other = DataTarget(x, seed=1, test_fraction=0.3)
    assert len(other.test_x) == 60 and not torch.equal(other.test_x[:40], a.test_x)
    record = other.run_record()
    assert (record["test_fraction"], record["split_seed"], record["n_test"]) == (0.3, 1, 60)
    assert len(record["mean"]) == len(record["std"]) == D
    rebuilt = DataTarget(x, seed=record["split_seed"], test_fraction=record["test_fraction"])
    assert torch.equal(rebuilt.test_x, other.test_x)


def test_images_still_load_from_npz(tmp_path):
    np.savez(tmp_path / "imgs.npz", x=np.zeros((10, 8, 8), np.uint8), y=np.arange(10) % 2)
    t = get_target(str(tmp_path / "imgs.npz"))
    assert isinstance(t, ImageDataset) and t.kind == "image" and t.num_classes == 2


def test_labelled_rows_are_class_conditional_data():
    x = mixture_5d(100)
    t = DataTarget(x, labels=np.arange(100) % 3)
    batch, labels = t.sample_labelled(50, torch.Generator().manual_seed(0))
    assert t.num_classes == 3 and batch.shape == (50, D) and labels.max() <= 2


def test_kind_is_honest_about_the_dimension():
    assert get_target("eight_gaussians").kind == "toy2d"
    assert GaussianMixture(torch.zeros(3, D), 1.0).kind == "vector"


def test_evaluate_scores_against_the_held_out_split():
    t = DataTarget(mixture_5d(3000))
    good = evaluate_samples(t.sample(1000, torch.Generator().manual_seed(0)), t)
    assert set(good) == {
        "n", "mmd", "mmd_floor", "energy_distance", "sliced_wasserstein", "reference_n",
    }  # fmt: skip
    assert good["reference_n"] == 600
    assert good["mmd"] <= 3 * good["mmd_floor"]
    # the floor is the expectation for an n-sample against the m-row split: (1/n + 1/m)(...)
    at_600 = evaluate_samples(t.sample(600, torch.Generator().manual_seed(0)), t)
    assert at_600["mmd_floor"] == pytest.approx(
        good["mmd_floor"] * (2 / 600) / (1 / 1000 + 1 / 600)
    )
    blurred = t.sample(1000, torch.Generator().manual_seed(0))
    blurred = blurred + 0.5 * torch.randn(blurred.shape, generator=torch.Generator().manual_seed(1))
    assert evaluate_samples(blurred, t)["mmd"] > 10 * good["mmd_floor"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("a,b\n1,2\n3,x\n", "line 3: 'x' is not a number"),
        ("1,2\n3\n", "line 2 has 1 columns"),
        ("a,b\n", "no rows of numbers"),
        ("1,2\nnan,1\n" + "1,2\n" * 20, "1 of 22 rows hold NaN"),
        ("1,2\n" * 5, "too few for a 0.2 test split"),
    ],
)
def test_bad_csv_is_one_clear_error(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(InvalidInputError, match=message.replace("(", r"\(")):
        get_target(str(path))


def test_missing_file_and_wrong_key(tmp_path):
    with pytest.raises(InvalidInputError, match="no such file"):
        get_target(str(tmp_path / "missing.csv"))
    np.savez(tmp_path / "z.npz", data=np.zeros((20, 2)))
    with pytest.raises(InvalidInputError, match="no array 'x' \\(found: data\\)"):
        get_target(str(tmp_path / "z.npz"))


TINY = ("--set", "train.batch_size=64", "--set", "train.eval_samples=100", "--no-progress")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["mix.npz", "mix.csv"])
def test_cli_train_sample_evaluate_compare_on_5d_data(cli, files, tmp_path, name):
    data = str(files[name])
    for method, extra in (("flow", ("--set", "model.hidden=16")), ("ddpm", ())):
        run = tmp_path / method
        cli(
            "train",
            method,
            "--data",
            data,
            "--out",
            run,
            "--steps",
            "20",
            *extra,
            *TINY,
            check=True,
        )
        cfg = json.loads((run / "config.json").read_text())
        assert cfg["data"]["n_test"] == 300 and len(cfg["data"]["std"]) == D
        options = {"steps": 5} if method == "ddpm" else {}
        out = tmp_path / f"{method}.npz"
        steps = ("--steps", "5") if options else ()
        cli("sample", run, "--n", "300", "--out", out, *steps, check=True)
        refused = cli("sample", run, "--out", tmp_path / "a.npz", "--animate", tmp_path / "a.gif")
        assert refused.returncode == 2 and "5-D vectors" in refused.stderr  # before sampling
        assert not (tmp_path / "a.npz").exists()
        # the file is in the data's units: the model's own draws, de-standardised
        model, _ = load_model(run)
        torch.manual_seed(0)  # as `sample` does
        z = model.sample(300, generator=torch.Generator().manual_seed(0), **options)
        target = get_target(data)
        torch.testing.assert_close(load_samples(out).x, target.decode(z.x), rtol=1e-4, atol=1e-4)
        result = cli("evaluate", out, "--target", data, "--json", check=True)
        metrics = json.loads(result.stdout)
        assert metrics["reference_n"] == 300 and metrics["mmd_floor"] > 0
        # scored in the target's coordinates: the same as the model's draws against it
        direct = evaluate_samples(z.x, target)
        assert metrics["mmd"] == pytest.approx(direct["mmd"], rel=1e-3)
    config = tmp_path / "tiny.toml"
    config.write_text(
        "n_samples = 200\n[methods.flow.train]\nsteps = 20\nbatch_size = 64\n"
        "[methods.ddpm.train]\nsteps = 20\nbatch_size = 64\n[methods.ddpm.sample]\nsteps = 5\n"
    )
    report = tmp_path / "report"
    cli("compare", "--target", data, "--methods", "flow,ddpm", "--config", config, "--out",
        report, "--quiet", check=True)  # fmt: skip
    results = json.loads((report / "results.json").read_text())
    assert results["target_kind"] == "vector" and results["event_shape"] == [D]
    for row in results["methods"]:
        assert row["status"] == "ok", row["reason"]
        assert row["metrics"]["mmd_floor"] > 0 and row["metrics"]["reference_n"] == 300
        assert "modes_covered" not in row["metrics"]  # no modes are known for a file
        assert (report / row["figures"]["samples"]).is_file()  # a pair plot
        assert "animation" not in row["figures"]  # no 2-D animation of 5-D data
        # samples.npz is in the data's units: `evaluate` of it repeats the row's numbers
        saved = report / row["method"] / "samples.npz"
        again = json.loads(cli("evaluate", saved, "--target", data, "--json", check=True).stdout)
        assert again["mmd"] == pytest.approx(row["metrics"]["mmd"], rel=1e-3)
