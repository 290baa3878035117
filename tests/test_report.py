"""The headless report: one self-contained HTML file, written whole or not at all."""

import re

import pytest

import lpntk_lab as lab
from lpntk_lab import report
from lpntk_lab.cli import main

SMALL = ["--epochs", "2", "--seeds", "0", "--fractions", "0.3"]
SECTIONS = ("Settings", "Training", "lpNTK within each class", "Relations between samples", "Learning difficulty",
            "Forgetting", "Farthest point clustering", "Pruning comparison")


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "report.html"
    assert main(["report", *SMALL, "--out", str(out)]) == 0
    return out.read_text(encoding="utf-8")


def test_the_report_is_one_file_with_no_outside_references(page):
    assert not re.search(r"<script[^>]+src=", page)
    assert not re.search(r"<link[^>]+https?://", page)
    assert not re.search(r"<img[^>]+src=\"https?://", page)
    assert "<script" in page and "vegaEmbed" in page
    assert len(page) > 500_000  # the Vega, Vega-Lite and vega-embed bundle is inlined


def test_every_chart_has_its_element_and_vega_embed_call(page):
    divs = re.findall(r'<div class="chart" id="(chart-\d+)"></div>', page)
    calls = re.findall(r'vegaEmbed\("#(chart-\d+)", \{', page)
    assert len(divs) >= 5 and divs == calls
    assert "</script" not in "".join(re.findall(r'vegaEmbed\("#chart-\d+", (.*?)\)\.catch', page))


def test_every_section_and_the_settings_used_are_shown(page):
    for heading in SECTIONS:
        assert f"<h2>{heading}</h2>" in page
    settings = page[page.index("<h2>Settings</h2>"):page.index("<h2>Training</h2>")]
    for name, value in (("dataset", "digits"), ("model", "mlp"), ("epochs", "2"), ("fractions", "0.3"), ("seeds", "0")):
        assert re.search(rf"<td>{name}</td>\s*<td>{value}</td>", settings), name


def test_galleries_carry_their_images_as_data_urls(page):
    n_train = lab.load("digits").n_train
    assert page.count("data:image/png;base64,") >= n_train  # the difficulty gallery: every training sample
    assert page.count('<img class="sample" src="data:image/png;base64,') == 2 * 3 * len(lab.relations.KINDS)


@pytest.mark.parametrize("args, message", [
    (["--dataset", "cifar100"], "unknown data set 'cifar100'"),
    (["--dataset", "mnist"], "'mnist' was not found"),
    (["--device", "tpu"], "unknown device 'tpu'"),
    (["--fractions", "1.5"], "must lie in [0, 1)"),
    (["--epochs", "zero"], "invalid int value"),
])
def test_bad_settings_are_one_line_and_exit_code_2(args, message, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LPNTK_LAB_DATA", str(tmp_path / "no-data"))
    out = tmp_path / "report.html"
    try:
        code = main(["report", *SMALL, *args, "--out", str(out)])
    except SystemExit as stop:  # argparse's own checks
        code = stop.code
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and message in err
    assert list(tmp_path.iterdir()) == []


def test_an_unwritable_target_is_refused_before_any_work(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(report, "build", _fail("no work may start"))
    for out in (tmp_path / "missing" / "report.html", tmp_path):
        assert main(["report", "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: cannot write the report") and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("where", ["build", "rename"])
def test_a_failure_leaves_no_partial_file_and_keeps_the_old_one(where, tmp_path, monkeypatch, capsys):
    out = tmp_path / "report.html"
    out.write_text("old report")
    if where == "build":
        monkeypatch.setattr(report, "build", _fail("the pipeline failed"))
    else:
        monkeypatch.setattr(report, "build", lambda settings: "<html>new</html>")
        monkeypatch.setattr(report.os, "replace", _fail("disk full", OSError))
    assert main(["report", "--out", str(out)]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"] and out.read_text() == "old report"


def test_write_replaces_the_file_whole_and_readable(tmp_path):
    out = report.write("<html></html>", tmp_path / "r.html")
    assert out.read_text() == "<html></html>"
    assert out.stat().st_mode & 0o777 == 0o666 & ~report._umask()  # as open() would create it
    assert [p.name for p in tmp_path.iterdir()] == ["r.html"]


def test_help_lists_every_option(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["report", "--help"])
    assert stop.value.code == 0
    text = capsys.readouterr().out
    for option in ("--dataset", "--model", "--epochs", "--fractions", "--seeds", "--device", "--out"):
        assert option in text


def _fail(message: str, kind: type[Exception] = ValueError):
    def fail(*args, **kwargs):
        raise kind(message)
    return fail
