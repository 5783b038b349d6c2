"""The report in a real browser: headless Chromium renders it, a row per method, images load."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from compare_fakes import AR1Chains, Exploding, NoisyExact, simple_mmd_evaluator

from genmodels.compare import CompareSettings, run_comparison

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


@pytest.mark.browser
@pytest.mark.slow
def test_report_renders_in_headless_chromium(chromium, tmp_path):
    methods = ["good", "ar1", "boom"]
    out = tmp_path / "report"
    run_comparison(
        "eight_gaussians",
        methods,
        out,
        CompareSettings(n_samples=300),
        runners={
            "good": NoisyExact("good", 0.0),
            "ar1": AR1Chains(draws=200),
            "boom": Exploding("boom", "<script>bad</script>"),
        },
        evaluate=simple_mmd_evaluator,
        progress=False,
    )
    page = (out / "index.html").resolve()
    dom = _chromium(chromium, tmp_path, "--dump-dom", page.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    # a row per method, in order
    assert re.findall(r'<tr class="[a-z_]+" data-method="([^"]+)"', html) == methods
    # every image the page shows exists on disk next to it (relative paths)
    sources = re.findall(r'<img src="([^"]+)"', html)
    assert len(sources) >= 7, sources  # exact, quality-cost, 2 samples, 2 GIFs, trace, autocorr
    for src in sources:
        assert not src.startswith(("http:", "https:", "/")), src
        assert (out / src).is_file(), src
    # the error message is shown as text, not run
    assert "&lt;script&gt;bad&lt;/script&gt;" in html

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
