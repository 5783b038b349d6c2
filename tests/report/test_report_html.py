"""The report page: one row per method, escaped strings, relative figure paths."""

from __future__ import annotations

import torch

from genmodels.compare.run import ComparisonResult, MethodResult
from genmodels.report.html import render_report


def _result() -> ComparisonResult:
    ok = MethodResult(
        method="ddpm",
        camp="diffusion",
        metrics={"mmd": 0.002, "mmd_floor": 0.0015, "mmd_ratio": 1.33, "modes_covered": 8},
        cost={
            "train_seconds": 10.0,
            "sample_seconds_per_1000": 0.5,
            "nfe_per_sample": 100.0,
            "ess": 2000.0,
            "ess_per_second": 4000.0,
        },
        figures={"samples": "ddpm/samples.png", "animation": "ddpm/trajectory.gif"},
        notes={"animation_label": "reverse diffusion"},
    )
    chain = MethodResult(
        method="nuts",
        camp="chain",
        metrics={"mmd": 0.01, "mmd_floor": 0.001},
        cost={"ess_per_second": 123.0},
        chain={"max_r_hat": 1.01, "min_ess_bulk": 400.0},
        figures={"trace": "nuts/trace.png"},
    )
    failed = MethodResult(
        method="gan",
        camp="map",
        status="failed",
        reason='ValueError: <img src=x onerror="alert(1)">',
    )
    return ComparisonResult(
        target="<b>my&data</b>",
        target_kind="toy2d",
        event_shape=[2],
        seed=0,
        n_samples=2000,
        budget_seconds=60.0,
        methods=[ok, chain, failed],
    )


def test_rows_escaping_and_relative_images():
    html = render_report(_result())
    assert html.count('<tr class="') == 3
    assert 'data-method="ddpm"' in html and 'data-method="gan"' in html
    # user strings are escaped, never markup
    assert "<b>my&data</b>" not in html and "&lt;b&gt;my&amp;data&lt;/b&gt;" in html
    assert "<img src=x" not in html and "&lt;img src=x" in html
    assert 'src="ddpm/samples.png"' in html and 'src="ddpm/trajectory.gif"' in html
    # no scripts or remote resources: the page opens from disk
    assert "<script" not in html and "http://" not in html and "https://" not in html
    assert "1.33" in html and "4000" in html


def test_compare_results_have_the_shape_the_report_reads():
    """The report imports no runner; this checks compare's results still fit its protocols."""
    from genmodels.compare.base import MethodOutput
    from genmodels.report.schema import ComparisonReport, MethodRow, RecordedTrajectory
    from genmodels.samples import Samples

    result = _result()
    assert isinstance(result, ComparisonReport)
    assert all(isinstance(row, MethodRow) for row in result.methods)
    output = MethodOutput(samples=Samples(torch.zeros(3, 2)))
    assert isinstance(output, RecordedTrajectory)
