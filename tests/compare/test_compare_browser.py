"""The report in a real browser: headless Chromium renders it, a row per method, images load."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def chromium() -> str:
    """Path of Debian's `chromium`, installed with apt when missing and we are root."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None and hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for cmd in (["apt-get", "update"], ["apt-get", "install", "-y", "chromium"]):
            subprocess.run(cmd, env=env, capture_output=True, timeout=600, check=False)
        path = shutil.which("chromium")
    if path is None:
        pytest.skip(
            "headless Chromium is not installed and cannot be installed here "
            "(needs root and apt-get)"
        )
    return path


def _chromium(binary: str, tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [binary, *CHROMIUM_FLAGS, f"--user-data-dir={tmp / 'profile'}", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp,
    )


# A tiny but real comparison: one method per camp, a few steps each.
TINY_CONFIG = """
n_samples = 200
[methods.mala]
chains = 2
draws = 60
warmup = 60
[methods.flow.train]
steps = 30
batch_size = 64
[methods.ddpm.train]
steps = 30
batch_size = 64
[methods.ddpm.sample]
steps = 10
"""
METHODS = ["mala", "flow", "ddpm"]


@pytest.mark.browser
@pytest.mark.slow
def test_report_renders_in_headless_chromium(chromium, run_cli, tmp_path):
    config = tmp_path / "tiny.toml"
    config.write_text(TINY_CONFIG)
    out = tmp_path / "report"
    proc = run_cli(
        "compare",
        "--target",
        "eight_gaussians",
        "--methods",
        ",".join(METHODS),
        "--config",
        config,
        "--out",
        out,
        "--quiet",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    page = (out / "index.html").resolve()
    assert f"report: {page}" in proc.stdout
    results = json.loads((out / "results.json").read_text())
    assert [m["status"] for m in results["methods"]] == ["ok"] * len(METHODS), results

    dom = _chromium(chromium, tmp_path, "--dump-dom", page.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    # a row per method, in order
    assert re.findall(r'<tr class="[a-z_]+" data-method="([^"]+)"', html) == METHODS
    # every image the page shows exists on disk next to it (relative paths)
    sources = re.findall(r'<img src="([^"]+)"', html)
    expected = {"exact.png", *(f"{m}/samples.png" for m in METHODS)}
    expected |= {"mala/trace.png", "mala/autocorr.png", "mala/chain_path.gif"}
    expected.add("ddpm/trajectory.gif")  # the reverse diffusion
    if any(m["metrics"] for m in results["methods"]):
        expected.add("quality_cost.png")
    assert expected <= set(sources), sources
    for src in sources:
        assert not src.startswith(("http:", "https:", "/")), src
        assert (out / src).is_file(), src

    shot = tmp_path / "shot.png"
    res = _chromium(
        chromium, tmp_path, f"--screenshot={shot}", "--window-size=1200,1600", page.as_uri()
    )
    assert res.returncode == 0 and shot.is_file(), res.stderr[-2000:]
    from PIL import Image

    pixels = np.asarray(Image.open(shot).convert("L"), dtype=np.float32)
    # not blank: text, tables and plots give many dark pixels and real contrast
    assert pixels.std() > 20
    assert (pixels < 128).mean() > 0.01
