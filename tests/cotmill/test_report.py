"""`cotmill report`: a self-contained page whose plots really render."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from datagen.config import GenerateConfig
from datagen.jobs import run_generate
from datagen.verify_runner import run_verify
from tests.conftest import run_cli

PLOTS = [
    "pass_rate_domain",
    "pass_rate_task",
    "pass_rate_difficulty",
    "pass_rate_teacher",
    "token_lengths",
    "cost",
]


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("report")
    run_generate(
        GenerateConfig(workspace=str(tmp / "w"), job="r", tasks="math,logic", count=20, error_rate=0.3)
    )
    run_verify(tmp / "w", workers=1)
    result = run_cli("report", "--workspace", str(tmp / "w"), "--out", str(tmp / "report.html"))
    assert result.returncode == 0, result.stderr
    return tmp / "report.html"


def test_every_plot_is_inline_and_nothing_is_fetched(report):
    page = report.read_text()
    for name in PLOTS:
        figure = re.search(rf'<figure class="plot" data-plot="{name}">.*?</figure>', page, re.S)
        assert figure and "<svg" in figure.group() and "<path" in figure.group(), name
    assert "<script" not in page and not re.search(r'(src|href)="https?://', page)
    assert "no mixtures yet" in page and "no training runs yet" in page


@pytest.mark.skipif(not shutil.which("chromium"), reason="Chromium is not installed")
def test_the_plots_render_in_headless_chromium(report, tmp_path):
    dom = subprocess.run(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", report.as_uri()],
        capture_output=True, text=True, timeout=120,
    ).stdout  # fmt: skip
    rendered = re.findall(r'<figure class="plot" data-plot="(\w+)">.*?<svg', dom, re.S)
    assert rendered == PLOTS
