"""The headless report opens offline in Chromium and every chart in it renders."""

import re

from lpntk_lab.cli import main

from . import lab_page


def test_report_charts_render_offline(page, tmp_path):
    out = tmp_path / "report.html"
    assert main(["report", "--epochs", "2", "--seeds", "0", "--fractions", "0.3", "--out", str(out)]) == 0
    expected = len(re.findall(r'<div class="chart" id="chart-\d+"></div>', out.read_text(encoding="utf-8")))
    errors = lab_page.watch_errors(page)
    outside = []
    page.route(re.compile(r"^https?://"), lambda route: (outside.append(route.request.url), route.abort()))
    page.goto(out.as_uri())
    page.wait_for_function(
        "n => document.querySelectorAll('.vega-embed svg, .vega-embed canvas').length >= n", arg=expected,
        timeout=60_000,
    )
    assert expected >= 5
    assert not errors and not outside
