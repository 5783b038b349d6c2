"""Every bad input to every command: exit code 2 and one line on stderr, no traceback.

The cases run in-process (the `cli` fixture) against small fixtures made once per module: a
tiny trained run, tampered copies of it, bad ``.npz`` files, bad images and bad TOML. Each
case is a command line whose ``{name}`` placeholders name those fixtures. Every case
is answered by the library's own checks (settings dataclasses, `genmodels.checks`,
`genmodels.io`'s output checks, `genmodels.memory`), which the commands call up front.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from cli_contract import assert_one_line_error
from genmodels.cli import main

HUGE = str(2**64)  # past torch's 64-bit seeds
BIG = str(10**30)


def _write_bad_files(d: Path) -> None:
    """The bad user files, by name (``{name}`` in a case)."""
    np.save(d / "array.npy", np.zeros((8, 2), np.float32))
    shutil.copy(d / "array.npy", d / "renamed.npz")
    (d / "empty.npz").write_bytes(b"")
    (d / "garbage.npz").write_bytes(b"\x00\x01\x02 not a zip archive " * 8)
    (d / "text.npz").write_text("x = 1\n")
    np.savez(d / "no_x.npz", y=np.zeros(3))
    np.savez(d / "strings.npz", x=np.array([["a", "b"], ["c", "d"]]))
    np.savez(d / "scalar_x.npz", x=np.float32(1.0))
    np.savez(d / "vector_x.npz", x=np.zeros(5, np.float32))
    np.savez(d / "no_rows.npz", x=np.zeros((0, 2), np.float32))
    np.savez(d / "nfe_array.npz", x=np.zeros((8, 2), np.float32), nfe=np.arange(3))
    np.savez(d / "nfe_negative.npz", x=np.zeros((8, 2), np.float32), nfe=-4)
    np.savez(d / "nfe_text.npz", x=np.zeros((8, 2), np.float32), nfe=np.array("many"))
    np.savez(d / "chains_array.npz", x=np.zeros((2, 4, 2), np.float32), chains=np.arange(2))
    np.savez(d / "chains_mismatch.npz", x=np.zeros((2, 4, 2), np.float32), chains=3)
    np.savez(d / "chains_flat.npz", x=np.zeros((8, 2), np.float32), chains=8)
    np.savez(d / "seconds_array.npz", x=np.zeros((8, 2), np.float32), seconds=np.zeros(2))
    np.savez(d / "info_array.npz", x=np.zeros((8, 2), np.float32), info_rate=np.zeros(2))
    np.savez(d / "nan.npz", x=np.full((8, 2), np.nan, np.float32))
    np.savez(d / "inf.npz", x=np.full((8, 2), np.inf, np.float32))
    np.savez(d / "one.npz", x=np.zeros((1, 2), np.float32))
    np.savez(d / "dim3.npz", x=np.zeros((8, 3), np.float32))
    np.savez(d / "good.npz", x=np.random.default_rng(0).normal(size=(64, 2)).astype(np.float32))
    (d / "subdir").mkdir()
    (d / "a_file").write_text("not a directory\n")
    _write_bad_densities(d)


def _write_bad_densities(d: Path) -> None:
    """Density files (``--target FILE.py:NAME``): one that does not import, one with a good
    density and bad ones beside it."""
    (d / "density_broken.py").write_text("import no_such_module_anywhere\n")
    (d / "density_raises.py").write_text("raise SystemExit('configured wrongly')\n")
    (d / "density.py").write_text(
        "import numpy as np\n"
        "import torch\n"
        "number = 3\n"
        "def log_prob(x):\n    return -0.5 * (x**2).sum(-1)\n"
        "def wrong_shape(x):\n    return x\n"
        "def wrong_dtype(x):\n    return (x**2).sum(-1).double()\n"
        "def not_a_tensor(x):\n    return 1.0\n"
        "def no_gradient(x):\n    return torch.as_tensor(np.zeros(len(x), np.float32))\n"
        "def fails(x):\n    return x @ torch.zeros(7, 1)\n"
    )


def _write_bad_images(d: Path) -> None:
    """Image targets (``--data`` / ``--target`` paths) that must be refused."""
    from PIL import Image

    imgs = np.zeros((6, 8, 8), np.uint8)
    np.savez(d / "img_labels_short.npz", x=imgs, y=np.zeros(3, np.int64))
    np.savez(d / "img_labels_2d.npz", x=imgs, y=np.zeros((6, 2), np.int64))
    np.savez(d / "img_labels_nan.npz", x=imgs, y=np.full(6, np.nan))
    np.savez(d / "img_labels_negative.npz", x=imgs, y=-np.ones(6, np.int64))
    np.savez(d / "img_labels_fraction.npz", x=imgs, y=np.full(6, 0.5))
    np.savez(d / "img_1x1.npz", x=np.zeros((6, 1, 1), np.uint8))
    np.savez(d / "img_single.npz", x=np.zeros((1, 8, 8), np.uint8))
    np.savez(d / "img_5d.npz", x=np.zeros((2, 2, 2, 8, 8), np.uint8))
    np.savez(d / "img_float_range.npz", x=np.full((6, 8, 8), 7.0, np.float32))
    np.savez(d / "img_nan.npz", x=np.full((6, 8, 8), np.nan, np.float32))
    np.savez(d / "img_strings.npz", x=np.full((6, 8, 8), "a"))
    for name in ("tiny_a", "tiny_b"):  # 1x1 images in a folder are fine: they are resized
        (d / "folder_one").mkdir(exist_ok=True)
        Image.new("L", (1, 1)).save(d / "folder_one" / f"{name}.png")
    bomb = d / "folder_bomb"
    bomb.mkdir()
    Image.new("1", (12000, 12000)).save(bomb / "bomb.png")  # 1.4e8 px: past MAX_IMAGE_PIXELS
    Image.new("L", (8, 8)).save(bomb / "small.png")
    broken = d / "folder_broken"
    broken.mkdir()
    (broken / "a.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    Image.new("L", (8, 8)).save(broken / "b.png")
    (d / "folder_empty").mkdir()


def _write_bad_data(d: Path) -> None:
    """Vector data files (``--data`` / ``--target`` paths) that must be refused."""
    (d / "vec_text.csv").write_text("a,b\n1,2\n3,x\n" + "1,2\n" * 20)
    (d / "vec_ragged.csv").write_text("1,2\n3\n" + "1,2\n" * 20)
    (d / "vec_nan.csv").write_text("1,2\nnan,1\n" + "1,2\n" * 20)
    (d / "vec_few.csv").write_text("1,2\n" * 5)
    (d / "vec_header_only.csv").write_text("a,b\n")
    (d / "vec_binary.csv").write_bytes(bytes(range(128, 256)) * 8)
    (d / "vec_empty.tsv").write_bytes(b"")
    (d / "vec_dir.csv").mkdir()
    np.savez(d / "vec_nan.npz", x=np.where(np.eye(30, 3) > 0, np.nan, 1.0))
    np.savez(d / "vec_few.npz", x=np.zeros((5, 3)))
    np.savez(d / "vec_no_x.npz", data=np.zeros((30, 3)))
    np.savez(d / "vec_complex.npz", x=np.zeros((30, 3), np.complex64))
    np.savez(d / "vec_labels_short.npz", x=np.zeros((30, 3)), y=np.zeros(4, np.int64))
    (d / "vec_garbage.npy").write_bytes(b"\x00\x01 not an array " * 8)
    np.save(d / "vec_strings.npy", np.full((30, 3), "a"))
    np.save(d / "vec_object.npy", np.array([[1, None]] * 30, dtype=object), allow_pickle=True)


def _write_bad_toml(d: Path) -> None:
    (d / "binary.toml").write_bytes(bytes(range(256)) * 4)
    (d / "broken.toml").write_text("[train\nlr = \n")
    (d / "lr.toml").write_text("[train]\nlr = -1.0\n")
    (d / "unknown.toml").write_text("[train]\nstpes = 3\n")
    (d / "model_scalar.toml").write_text("model = 3\n")
    (d / "width.toml").write_text("[model]\nwidth = 0\n")
    (d / "compare_bad.toml").write_text("[compare]\nno_such_key = 1\n")
    for name, options in SOLVER_OPTIONS.items():  # a solver option's value, typo'd or out of range
        (d / f"solver_{name}.toml").write_text(f"[methods.ddpm.sample]\n{options}\n")
    for name, options in FAB_SETTINGS.items():  # a FABSettings field out of range
        (d / f"fab_{name}.toml").write_text(f"[methods.fab]\n{options}\n")


def _tampered_runs(run: Path, d: Path) -> None:
    """Copies of a good run with one field of config.json broken."""
    edits = {
        "run_shape_text": {"event_shape": ["x"]},
        "run_shape_empty": {"event_shape": []},
        "run_train_list": {"train_config": [1, 2]},
        "run_model_list": {"model_config": [1, 2]},
        "run_step_text": {"step": "ten"},
        "run_method_unknown": {"method": "no_such_method"},
        "run_width_negative": {"model_config": {"hidden": -1}},
    }
    for name, edit in edits.items():
        shutil.copytree(run, d / name)
        cfg = json.loads((d / name / "config.json").read_text())
        cfg.update(edit)
        (d / name / "config.json").write_text(json.dumps(cfg))
    shutil.copytree(run, d / "run_no_weights")
    for weights in (d / "run_no_weights").rglob("model.safetensors"):
        weights.unlink()  # the link beside config.json and the checkpoint set's own file
    shutil.copytree(run, d / "run_bad_json")
    (d / "run_bad_json" / "config.json").write_text("{not json")


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Every fixture path by name, plus ``run``: a flow trained for 3 steps."""
    d = tmp_path_factory.mktemp("bad-inputs")
    _write_bad_files(d)
    _write_bad_images(d)
    _write_bad_data(d)
    _write_bad_toml(d)
    run = d / "run"
    args = [
        "train",
        "flow",
        "--data",
        "two_moons",
        "--out",
        str(run),
        "--steps",
        "3",
        "--set",
        "model.hidden=8",
        "--set",
        "model.transforms=1",
        "--set",
        "train.batch_size=16",
        "--set",
        "train.eval_samples=50",
        "--no-progress",
    ]
    try:
        main(args)
    except SystemExit as e:
        assert e.code in (0, None), e.code
    _tampered_runs(run, d)
    names = {p.name: str(p) for p in d.iterdir()}
    names["unwritable"] = "/proc/genmodels-bad-inputs/out"
    names["unwritable_npz"] = "/proc/genmodels-bad-inputs.npz"
    names["under_file"] = str(d / "a_file" / "sub")
    names["out"] = str(d / "fresh-out")
    return names


def _case(*args: str, marks: object = ()) -> object:
    return pytest.param(args, id=" ".join(args)[:90], marks=marks)


TARGETS = [
    _case("targets", "--no-such-option"),
    _case("targets", "extra-argument"),
    _case("targets", "--json=yes"),
]

METHODS = [
    _case("methods", "--no-such-option"),
    _case("methods", "extra-argument"),
    _case("methods", "--json", "more"),
]

_M = ("mcmc", "--target", "banana", "--no-progress", "--no-plots")
MCMC = [
    _case("mcmc", "--target", "no_such_target", "--out", "{out}"),
    _case("mcmc", "--target", "digits", "--out", "{out}"),  # no density
    _case("mcmc", "--target", "two_moons", "--sampler", "no_such", "--out", "{out}"),
    _case("mcmc", "--target", "banana", "--sampler", "flow", "--out", "{out}"),
    _case("mcmc", "--target", "banana", "--sampler", "ddpm", "--out", "{out}"),
    _case("mcmc", "--target", "banana"),  # no --out
    _case("mcmc", "--out", "{out}"),  # no --target
    _case(*_M, "--chains", "0", "--out", "{out}"),
    _case(*_M, "--chains", "-1", "--out", "{out}"),
    _case(*_M, "--chains", "abc", "--out", "{out}"),
    _case(*_M, "--chains", "10000000", "--out", "{out}"),
    _case(*_M, "--chains", BIG, "--out", "{out}"),
    _case(*_M, "--draws", "0", "--out", "{out}"),
    _case(*_M, "--draws", "1.5", "--out", "{out}"),
    _case(*_M, "--draws", "1000000000000", "--out", "{out}"),
    _case(*_M, "--warmup", "-1", "--out", "{out}"),
    _case(*_M, "--seed", "-1", "--out", "{out}"),
    _case(*_M, "--seed", HUGE, "--out", "{out}"),
    _case(*_M, "--seed", BIG, "--out", "{out}"),
    _case(*_M, "--seed", "x", "--out", "{out}"),
    _case(*_M, "--init", "bogus", "--out", "{out}"),
    _case(*_M, "--init-spread", "0", "--out", "{out}"),
    _case(*_M, "--init-spread", "-2", "--out", "{out}"),
    _case(*_M, "--init-spread", "nan", "--out", "{out}"),
    _case(*_M, "--init-spread", "inf", "--out", "{out}"),
    _case(*_M, "--out", "{a_file}"),
    _case(*_M, "--out", "{under_file}"),
    _case(*_M, "--out", "{unwritable}"),
    _case(*_M, "--sampler", "flow_mh", "--chains", "0", "--out", "{out}"),
    _case(*_M, "--sampler", "neutra_hmc", "--draws", "0", "--out", "{out}"),
    _case(*_M, "--sampler", "flow_mh", "--chains", "10000000", "--out", "{out}"),
    _case("mcmc", "--target", "{good.npz}", "--out", "{out}"),  # a data set: no density
    _case(*_M, "--device", "bogus", "--out", "{out}"),
    _case(*_M, "--sampler", "flow_mh", "--save-warmup", "--out", "{out}"),
    _case(*_M, "--dim", "3", "--out", "{out}"),  # banana has a fixed dimension
    *[
        _case("mcmc", "--target", target, *dim, "--no-progress", "--out", "{out}")
        for target, dim in [
            ("{density_broken.py}:log_prob", ("--dim", "2")),  # does not import
            ("{density_raises.py}:log_prob", ("--dim", "2")),  # exits while importing
            ("{missing_density}.py:log_prob", ("--dim", "2")),  # no such file
            ("{density.py}:no_such_name", ("--dim", "2")),
            ("{density.py}", ("--dim", "2")),  # no :NAME
            ("{density.py}:log_prob", ()),  # a function needs --dim
            ("{density.py}:log_prob", ("--dim", "0")),
            ("{density.py}:log_prob", ("--dim", "-3")),
            ("{density.py}:number", ("--dim", "2")),  # not a function
            ("{density.py}:wrong_shape", ("--dim", "2")),
            ("{density.py}:wrong_dtype", ("--dim", "2")),
            ("{density.py}:not_a_tensor", ("--dim", "2")),
            ("{density.py}:no_gradient", ("--dim", "2")),
            ("{density.py}:fails", ("--dim", "2")),  # the function raises
        ]
    ],
]

_T = ("train", "flow", "--data", "two_moons", "--out", "{out}", "--no-progress")
_D = ("train", "ddpm", "--data", "two_moons", "--out", "{out}", "--no-progress")
_BAD_TRAIN_SETTINGS = [
    "train.lr=-1",
    "train.lr=nan",
    "train.lr=inf",
    "train.lr=0",
    "train.lr=fast",
    "train.betas=[2, 3]",
    "train.betas=[0.5]",
    "train.betas=[-0.1, 0.9]",
    "train.betas=x",
    "train.weight_decay=-1",
    "train.weight_decay=nan",
    "train.checkpoint_every=0",
    "train.log_every=0",
    "train.eval_every=-1",
    "train.eval_samples=-5",
    "train.eval_samples=0",
    "train.batch_size=0",
    "train.batch_size=-3",
    "train.warmup_steps=-1",
    "train.min_lr_ratio=2",
    "train.grad_clip=-1",
    "train.ema_decay=1",
    "train.ema_decay=-0.5",
    "train.mixed_precision=fp8",
    "train.min_steps=-1",
    "train.seed=-1",
    f"train.seed={HUGE}",
    "train.no_such_key=1",
    "no_such_key=1",
    "noequals",
    "model.no_such_key=3",
    "train.distributed=maybe",
]
_BAD_MODEL_SETTINGS = [
    ("flow", "model.transforms=0"),
    ("flow", "model.hidden=0"),
    ("flow", "model.hidden=-1"),
    ("flow", "model.depth=0"),
    ("flow", "model.bins=0"),
    ("flow", "model.kind=bogus"),
    ("flow", "model.num_levels=-1"),
    ("flow", "model.hidden=1000000000"),
    ("ddpm", "model.width=-1"),
    ("ddpm", "model.width=0"),
    ("ddpm", "model.depth=0"),
    ("ddpm", "model.timesteps=0"),
    ("ddpm", "model.timesteps=-5"),
    ("ddpm", "model.label_dropout=1"),
    ("ddpm", "model.unet_mults=[0]"),
    ("ddpm", "model.unet_mults=[]"),
    ("ddpm", "model.clip_x0=-1"),
    ("ddpm", "model.dynamic_threshold=1.5"),
    ("ddpm", "model.dynamic_threshold=0"),
    ("ddpm", "model.schedule=square"),
    ("ddpm", "model.num_classes=-2"),
    ("ddpm", "model.width=1000000000"),
    ("sde_ve", "model.sigma_min=0"),
    ("sde_ve", "model.sigma_max=0.001"),
    ("sde_ve", "model.sigma_data=0"),
    ("sde_vp", "model.beta_min=0"),
    ("sde_vp", "model.beta_max=0.01"),
    ("sde_subvp", "model.snr=0"),
    ("ncsn", "model.levels=0"),
    ("ncsn", "model.step_lr=-1"),
    ("ncsn", "model.steps_per_level=0"),
    ("flow_matching", "model.t_max=2"),
    ("flow_matching", "model.t_min=-1"),
    ("flow_matching", "model.sigma_min=1"),
    ("flow_matching", "model.coupling=best"),
    ("gan", "model.d_steps=0"),
    ("gan", "model.hidden=0"),
    ("gan", "model.betas=[1.5, 0.9]"),
    ("gan", "model.gp_weight=-1"),
    ("gan", "model.lr=-1"),
    ("gan", "model.loss=hinge"),
    ("vae", "model.iwae_k=0"),
    ("vae", "model.latent_dim=-1"),
    ("vae", "model.depth=0"),
    ("vae", "model.kl_warmup=-2"),
    ("vae", "model.min_log_scale=nan"),
]
TRAIN = [
    *[_case(*_T, "--set", item) for item in _BAD_TRAIN_SETTINGS],
    *[
        _case("train", m, "--data", "two_moons", "--out", "{out}", "--no-progress", "--set", item)
        for m, item in _BAD_MODEL_SETTINGS
    ],
    _case("train", "no_such_method", "--data", "two_moons", "--out", "{out}"),
    _case("train", "nuts", "--data", "two_moons", "--out", "{out}"),  # a chain
    _case("train", "flow_mh", "--data", "two_moons", "--out", "{out}"),  # a hybrid
    _case("train", "nuts", "--show-config"),  # a chain has no train settings
    _case("train", "no_such_method", "--show-config"),
    _case("train", "flow", "--data", "no_such_target", "--out", "{out}"),
    _case("train", "flow", "--out", "{out}"),
    _case("train", "flow", "--data", "two_moons"),
    _case(*_T, "--steps", "-1"),
    _case(*_T, "--steps", "many"),
    _case(*_T, "--steps", "1.5"),
    _case(*_T, "--seed", HUGE),
    _case(*_T, "--seed", "-1"),
    _case(*_T, "--device", "no_such_device"),
    _case(*_T, "--config", "{subdir}"),
    _case(*_T, "--config", "{binary.toml}"),
    _case(*_T, "--config", "{broken.toml}"),
    _case(*_T, "--config", "{lr.toml}"),
    _case(*_T, "--config", "{unknown.toml}"),
    _case(*_T, "--config", "{model_scalar.toml}"),
    _case(*_T, "--config", "{renamed.npz}"),
    _case(*_T, "--config", "{missing.toml}"),
    _case(*_D, "--config", "{width.toml}"),
    _case("train", "vae", "--data", "{img_labels_short.npz}", "--out", "{out}"),
    _case("train", "vae", "--data", "{img_labels_2d.npz}", "--out", "{out}"),
    _case("train", "vae", "--data", "{img_labels_nan.npz}", "--out", "{out}"),
    _case("train", "vae", "--data", "{img_labels_negative.npz}", "--out", "{out}"),
    _case("train", "vae", "--data", "{img_labels_fraction.npz}", "--out", "{out}"),
    _case("train", "vae", "--data", "{img_1x1.npz}", "--out", "{out}"),
    _case("train", "vae", "--data", "{img_single.npz}", "--out", "{out}"),
    _case("train", "vae", "--data", "{img_5d.npz}", "--out", "{out}"),
    _case("train", "vae", "--data", "{img_float_range.npz}", "--out", "{out}"),
    _case("train", "vae", "--data", "{img_nan.npz}", "--out", "{out}"),
    _case("train", "vae", "--data", "{img_strings.npz}", "--out", "{out}"),
    _case("train", "vae", "--data", "{renamed.npz}", "--out", "{out}"),
    _case("train", "vae", "--data", "{empty.npz}", "--out", "{out}"),
    _case("train", "vae", "--data", "{garbage.npz}", "--out", "{out}"),
    _case("train", "vae", "--data", "{folder_bomb}", "--out", "{out}"),
    _case("train", "vae", "--data", "{folder_broken}", "--out", "{out}"),
    _case("train", "vae", "--data", "{folder_empty}", "--out", "{out}"),
    *(
        _case("train", "flow", "--data", "{" + name + "}", "--out", "{out}")
        for name in (
            "missing.csv",
            "missing.npy",
            "vec_text.csv",
            "vec_ragged.csv",
            "vec_nan.csv",
            "vec_few.csv",
            "vec_header_only.csv",
            "vec_binary.csv",
            "vec_empty.tsv",
            "vec_nan.npz",
            "vec_few.npz",
            "vec_no_x.npz",
            "vec_complex.npz",
            "vec_labels_short.npz",
            "vec_garbage.npy",
            "vec_strings.npy",
            "vec_object.npy",
            "vec_dir.csv",
        )
    ),
    _case(
        "train",
        "flow",
        "--data",
        "two_moons",
        "--out",
        "{run}",
        "--resume",
        "--set",
        "model.hidden=32",
    ),
    _case("train", "vae", "--data", "two_moons", "--out", "{run}", "--resume"),
    _case("train", "flow", "--data", "two_moons", "--out", "{run_bad_json}", "--resume"),
    _case(
        "train",
        "flow",
        "--data",
        "two_moons",
        "--out",
        "{a_file}",
    ),
    _case(
        "train",
        "flow",
        "--data",
        "two_moons",
        "--out",
        "{unwritable}",
    ),
    _case(
        "train",
        "flow",
        "--data",
        "two_moons",
        "--out",
        "{run_train_list}",
        "--resume",
    ),
]

SAMPLE = [
    _case("sample", "{missing_run}", "--out", "{out}.npz"),
    _case("sample", "{a_file}", "--out", "{out}.npz"),
    _case("sample", "{subdir}", "--out", "{out}.npz"),
    _case("sample", "{run_bad_json}", "--out", "{out}.npz"),
    _case("sample", "{run_no_weights}", "--out", "{out}.npz"),
    _case("sample", "{run_model_list}", "--out", "{out}.npz"),
    _case("sample", "{run_method_unknown}", "--out", "{out}.npz"),
    _case("sample", "{run_width_negative}", "--out", "{out}.npz"),
    _case("sample", "{run}", "--n", "0", "--out", "{out}.npz"),
    _case("sample", "{run}", "--n", "-1", "--out", "{out}.npz"),
    _case("sample", "{run}", "--n", "ten", "--out", "{out}.npz"),
    _case("sample", "{run}", "--n", "100000000000000", "--out", "{out}.npz"),
    _case("sample", "{run}", "--steps", "0", "--out", "{out}.npz"),
    _case("sample", "{run}", "--batch-size", "0", "--out", "{out}.npz"),
    _case("sample", "{run}", "--batch-size", "many", "--out", "{out}.npz"),
    _case("sample", "{run}", "--sampler", "ddim", "--out", "{out}.npz"),
    _case("sample", "{run}", "--label", "1", "--out", "{out}.npz"),
    _case("sample", "{run}", "--guidance", "2", "--out", "{out}.npz"),
    _case("sample", "{run}", "--device", "no_such_device", "--out", "{out}.npz"),
    _case("sample", "{run}"),
    _case("sample", "{run}", "--seed", HUGE, "--out", "{out}.npz"),
    _case("sample", "{run}", "--out", "{subdir}"),
    _case(
        "sample",
        "{run_shape_text}",
        "--out",
        "{out}.npz",
    ),
]

_L = ("likelihood", "{run}", "--data", "two_moons")
LIKELIHOOD = [
    _case("likelihood", "{missing_run}", "--data", "two_moons"),
    _case("likelihood", "{a_file}", "--data", "two_moons"),
    _case("likelihood", "{run_bad_json}", "--data", "two_moons"),
    _case("likelihood", "{run}", "--data", "no_such_target"),
    _case("likelihood", "{run}", "--data", "digits"),  # another event shape
    _case("likelihood", "{run}"),
    _case(*_L, "--n", "0"),
    _case(*_L, "--n", "-1"),
    _case(*_L, "--n", "1000000000000000"),
    _case(*_L, "--n", "x"),
    _case(*_L, "--device", "no_such_device"),
    _case(*_L, "--seed", HUGE),
    _case(*_L, "--batch-size", "0"),
    _case(*_L, "--batch-size", "-5"),
]

EVALUATE = [
    *[
        _case("evaluate", "{" + name + "}", "--target", "two_moons")
        for name in (
            "missing.npz",
            "subdir",
            "renamed.npz",
            "empty.npz",
            "garbage.npz",
            "text.npz",
            "no_x.npz",
            "strings.npz",
            "scalar_x.npz",
            "vector_x.npz",
            "no_rows.npz",
            "nfe_array.npz",
            "nfe_negative.npz",
            "nfe_text.npz",
            "chains_array.npz",
            "chains_mismatch.npz",
            "chains_flat.npz",
            "seconds_array.npz",
            "info_array.npz",
            "nan.npz",
            "inf.npz",
            "one.npz",
            "dim3.npz",
        )
    ],
    _case("evaluate", "{good.npz}", "--target", "no_such_target"),
    _case("evaluate", "{good.npz}", "--target", "digits"),
    _case("evaluate", "{good.npz}", "--target", "{img_labels_2d.npz}"),
    _case("evaluate", "{good.npz}", "--target", "{img_1x1.npz}"),
    _case("evaluate", "{good.npz}"),
    _case("evaluate", "{good.npz}", "--target", "{vec_nan.csv}"),
    _case("evaluate", "{good.npz}", "--target", "{vec_few.npz}"),
    _case("evaluate", "{good.npz}", "--target", "{missing.csv}"),
    _case("evaluate", "{dim3.npz}", "--target", "{good.npz}"),  # 3 columns against 2
    _case("evaluate", "{good.npz}", "--target", "two_moons", "--seed", "-1"),
    _case("evaluate", "{good.npz}", "--target", "two_moons", "--seed", HUGE),
]

SOLVER_OPTIONS = {
    "unipc_order": 'sampler = "unipc"\norder = 7',
    "unipc_variant": 'sampler = "unipc"\nvariant = "bh3"',
    "ipndm_order": 'sampler = "ipndm"\nmax_order = 0',
    "sde_eta": 'sampler = "dpmpp_2m_sde"\neta = 2.0',
    "ancestral_noise": 'sampler = "euler_ancestral"\ns_noise = -1.0',
    "ddim_eta": 'sampler = "ddim"\neta = "lots"',
    "ddim_clip": 'sampler = "ddim"\nclip_x0 = 0.0',
    "lower_order_final": 'sampler = "dpmpp_3m"\nlower_order_final = "yes"',
    "dopri5_rtol": 'sampler = "dopri5"\nrtol = -1e-3',
    "steps_per_level": 'sampler = "annealed_langevin"\nsteps_per_level = 0',
}

# FABSettings (genmodels.density.fab): each field it validates, out of range
FAB_SETTINGS = {
    "iterations": "iterations = -1",
    "batch_size": "batch_size = 1",
    "updates": "updates_per_pass = 0",
    "temperatures": "temperatures = 0",
    "moves": "moves = 0",
    "step_size": "step_size = 0.0",
    "target_accept": "target_accept = 1.0",
    "buffer_min": "batch_size = 64\nbuffer_min = 10",
    "buffer_size": "buffer_min = 256\nbuffer_size = 256",
    "w_adjust_clip": "w_adjust_clip = 0.0",
    "lr": "lr = -1e-3",
    "grad_clip": "grad_clip = 0.0",
    "kernel": 'kernel = "nuts"',
    "kernel_options": "[methods.fab.kernel_options]\nno_such_option = 1",
    "flow_kind": 'flow_kind = "glow"',
    "transforms": "transforms = 0",
    "reference_scale": "reference_scale = -1.0",
    "particles": "particles = 0",
}

_C = ("compare", "--target", "two_moons", "--out", "{out}", "--quiet")
COMPARE = [
    _case("compare", "--target", "no_such_target", "--methods", "flow", "--out", "{out}"),
    _case("compare", "--target", "{vec_text.csv}", "--methods", "flow", "--out", "{out}"),
    _case("compare", "--target", "{vec_no_x.npz}", "--methods", "flow", "--out", "{out}"),
    _case(*_C, "--methods", "no_such_method"),
    _case(*_C, "--methods", "flow,no_such_method"),
    _case(*_C, "--config", "{missing.toml}"),
    _case(*_C, "--config", "{subdir}"),
    _case(*_C, "--config", "{binary.toml}"),
    _case(*_C, "--config", "{broken.toml}"),
    _case(*_C, "--config", "{compare_bad.toml}"),
    *(
        _case(*_C, "--methods", "ddpm", "--config", f"{{solver_{name}.toml}}")
        for name in SOLVER_OPTIONS
    ),
    *(
        _case(
            "compare",
            "--target",
            "gmm40_2d",
            "--methods",
            "fab",
            "--out",
            "{out}",
            "--quiet",
            "--config",
            f"{{fab_{name}.toml}}",
        )
        for name in FAB_SETTINGS
    ),
    _case(*_C, "--budget-seconds", "soon"),
    _case(*_C, "--n-samples", "many"),
    # answered before anything trains: the run-wide values and the output directory
    _case(*_C, "--methods", "flow", "--budget-seconds", "nan"),
    _case(*_C, "--methods", "flow", "--budget-seconds", "inf"),
    _case(*_C, "--methods", "flow", "--budget-seconds", "-5"),
    _case(*_C, "--methods", "flow", "--n-samples", "0"),
    _case(*_C, "--methods", "flow", "--n-samples", BIG),
    _case(*_C, "--methods", "flow", "--seed", HUGE),
    _case(*_C, "--methods", "flow", "--no-budget", "--budget-seconds", "10"),
    _case("compare", "--target", "two_moons", "--methods", "flow", "--out", "{a_file}"),
    _case("compare", "--target", "two_moons", "--methods", "flow", "--out", "{unwritable}"),
    _case("compare", "--target", "{density.py}:log_prob", "--methods", "nuts", "--out", "{out}"),
    _case("compare", "--target", "{density.py}:wrong_shape", "--dim", "2", "--out", "{out}"),
    # the targets with a known log Z have a fixed dimension
    _case("compare", "--target", "gmm40_2d", "--dim", "3", "--methods", "nuts", "--out", "{out}"),
    _case("mcmc", "--target", "manywell_32d", "--dim", "8", "--out", "{out}"),
]

DEMO = [
    _case("demo"),
    _case("demo", "no-such-demo", "--out", "{out}"),
    _case("demo", "mixing"),
    _case("demo", "mixing", "--quick", "--out", "{a_file}"),
    _case("demo", "mixing", "--quick", "--out", "{under_file}"),
    _case("demo", "mixing", "--quick", "--out", "{unwritable}"),
    _case("demo", "mixing", "--quick", "--seed", HUGE, "--out", "{out}"),
    _case("demo", "mixing", "--quick", "--seed", "-1", "--out", "{out}"),
    _case("demo", "--list", "--no-such-option"),
]

CASES = [*TARGETS, *METHODS, *MCMC, *TRAIN, *SAMPLE, *LIKELIHOOD, *EVALUATE, *COMPARE, *DEMO]


def _fill(args: tuple[str, ...], files: dict[str, str]) -> list[str]:
    """``{name}`` → the fixture path of that name (``{missing...}``: a path that is not there)."""

    def path(match: re.Match[str]) -> str:
        key = match.group(1)
        if key.startswith("missing"):
            return str(Path(files["subdir"]).parent / f"no-such-{key}")
        return files[key]

    return [re.sub(r"\{([^{}]+)\}", path, arg) for arg in args]


def test_there_are_enough_cases() -> None:
    commands = {case.values[0][0] for case in CASES}
    assert len(CASES) >= 150
    assert commands == {
        "targets",
        "methods",
        "mcmc",
        "train",
        "sample",
        "likelihood",
        "evaluate",
        "compare",
        "demo",
    }


@pytest.mark.parametrize("args", CASES)
def test_bad_input_is_one_line_and_exit_2(cli, files: dict[str, str], args: tuple[str, ...]):
    argv = _fill(args, files)
    if argv[0] == "train" and "--steps" not in argv:  # a wrongly accepted case stays short
        argv += ["--steps", "2"]
    assert_one_line_error(cli(*argv))


def test_the_run_survives_the_cases(files: dict[str, str]) -> None:
    """No refused case wrote into the good run (a refused --resume changes nothing)."""
    cfg = json.loads((Path(files["run"]) / "config.json").read_text())
    assert cfg["step"] == 3 and cfg["model_config"]["hidden"] == 8


def test_huge_chain_count_is_refused_before_allocating(run_cli, tmp_path: Path) -> None:
    """The reported case, in its own process: refused at once, not after growing to GiBs."""
    proc = run_cli("mcmc", "--target", "banana", "--chains", "10000000", "--out", tmp_path / "o")
    assert_one_line_error(proc)
    assert "GiB" in proc.stderr
