"""`cotmill report`: a self-contained page whose plots really render: the data's pass
rates, lengths, cost and mixtures; real training runs' curves from `metrics`; real evals'
before/after tables; every bar with its n; one line wherever a plot has nothing to show."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess

import pytest

from datagen.config import GenerateConfig
from datagen.jobs import run_generate
from datagen.verify_runner import run_verify
from tests.conftest import query, run_cli

DATA_PLOTS = [
    "pass_rate_domain",
    "pass_rate_task",
    "pass_rate_difficulty",
    "pass_rate_teacher",
    "token_lengths",
]


def _report(workspace, out) -> str:
    result = run_cli("report", "--workspace", str(workspace), "--out", str(out))
    assert result.returncode == 0, result.stderr
    return out.read_text()


def _figure(page: str, name: str) -> str:
    figure = re.search(rf'<figure class="plot" data-plot="{name}">.*?</figure>', page, re.S)
    assert figure, f"no plot {name}"
    return figure.group()


def _empty(page: str, name: str) -> str:
    line = re.search(rf'<p class="empty" data-empty="{name}">(.*?)</p>', page, re.S)
    assert line, f"no empty line {name}"
    return re.sub(r"<[^>]+>", "", html.unescape(line.group(1)))


def _svg_text(figure: str) -> list[str]:
    """The text matplotlib drew (as paths, so each label is in an SVG comment)."""
    return [html.unescape(t) for t in re.findall(r"<!-- (.*?) -->", figure, re.S)]


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    """Builtin teacher (so every completion cost $0), verified, no mixtures, no runs."""
    tmp = tmp_path_factory.mktemp("report")
    run_generate(
        GenerateConfig(workspace=str(tmp / "w"), job="r", tasks="math,logic", count=20, error_rate=0.3)
    )
    run_verify(tmp / "w", workers=1)
    return tmp / "w", _report(tmp / "w", tmp / "report.html")


def test_every_plot_is_inline_and_nothing_is_fetched(fresh):
    _, page = fresh
    for name in DATA_PLOTS:
        figure = _figure(page, name)
        assert "<svg" in figure and "<path" in figure, name
    assert "<script" not in page and not re.search(r'(src|href)="https?://', page)


def test_every_bar_shows_its_n(fresh):
    workspace, page = fresh
    rows = query(workspace, "SELECT p.domain, count(*) FROM completions c JOIN problems p USING (problem_id) "
                            "JOIN verdicts v USING (completion_id) GROUP BY 1 ORDER BY 1")  # fmt: skip
    labels = _svg_text(_figure(page, "pass_rate_domain"))
    for _, n in rows:
        assert f"n={n}" in labels, (n, labels)
    # the histogram's legend counts each domain's completions
    lengths = _svg_text(_figure(page, "token_lengths"))
    assert any(t.startswith("math (n=") for t in lengths) and any(t.startswith("logic (n=") for t in lengths)


def test_nothing_to_show_is_one_line_saying_why(fresh):
    _, page = fresh
    assert 'data-plot="cost"' not in page  # a bar chart of zeros says nothing
    assert (
        _empty(page, "cost")
        == "No cost to show: every completion cost $0 (teacher: builtin(error_rate=0.3))."
    )
    assert _empty(page, "mixtures").endswith("no mixtures yet: run cotmill mix build")
    assert "no training runs yet" in _empty(page, "training_runs")
    assert _empty(page, "evals") == "Evals: no evals yet: run cotmill eval"
    assert "<li><b>0</b> mixtures</li>" in page and "<li><b>0</b> training runs</li>" in page


def test_a_cost_is_plotted_with_its_n_and_one_mixture_is_one(fresh, tmp_path):
    from datagen.store import Store
    from mixtures.build import build_mixture
    from mixtures.spec import MixSpec

    workspace = tmp_path / "w"
    shutil.copytree(fresh[0], workspace, ignore=shutil.ignore_patterns("cotmill.lock"))
    run_generate(GenerateConfig(workspace=str(workspace), job="paid", tasks="math", count=5, price_out=100.0))
    run_verify(workspace, workers=1)
    with Store.open(workspace) as store:
        build_mixture(store, MixSpec(name="m", total=10, ratios={"math": 0.5, "logic": 0.5}, seed=1,
                                     on_shortfall="redistribute"))  # fmt: skip
    page = _report(workspace, tmp_path / "report.html")
    cost = _svg_text(_figure(page, "cost"))
    assert "$0" in cost and "n=20" in cost and "n=5" in cost  # job r: 20 completions at $0, paid: 5
    assert "<li><b>1</b> mixture</li>" in page and "mixtures</li>" not in page
    items = query(workspace, "SELECT count(*) FROM mixture_items")[0][0]
    assert f"n={items}" in _svg_text(_figure(page, "mixtures"))


def test_a_workspace_older_than_training_is_reported_not_migrated(tmp_path):
    """The report opens read-only, so a workspace made before the training tables (schema
    version 4) keeps its version, and the page says what it lacks instead of failing."""
    import duckdb

    from datagen.schema import MIGRATIONS, VERSION_TABLE

    workspace = tmp_path / "old"
    workspace.mkdir()
    with duckdb.connect(str(workspace / "cotmill.duckdb")) as con:
        con.execute(VERSION_TABLE)
        for version, statements in enumerate(MIGRATIONS[:4], 1):
            for statement in statements:
                con.execute(statement)
            con.execute("INSERT INTO schema_version (version) VALUES (?)", [version])
    page = _report(workspace, tmp_path / "report.html")
    assert _empty(page, "training_runs") == "Training runs: this workspace predates training runs"
    assert _empty(page, "evals") == "Evals: this workspace predates evals"
    assert "<li><b>0</b> problems</li>" in page and "training run" not in page.split("</ul>")[0]
    assert query(workspace, "SELECT max(version) FROM schema_version") == [(4,)]


def test_a_run_that_logged_nothing_yet_is_listed_and_its_curves_say_so(fresh, tmp_path):
    pytest.importorskip("torch")
    from train.metrics import RunLogger

    workspace = tmp_path / "w"
    shutil.copytree(fresh[0], workspace, ignore=shutil.ignore_patterns("cotmill.lock"))
    logger = RunLogger(kind="sft", out_dir=tmp_path / "out", workspace=workspace, run="just-started")
    page = _report(workspace, tmp_path / "report.html")  # while it runs: its row is written at once
    logger.finish("interrupted")
    table = re.search(r'<table class="runs">.*?</table>', page, re.S).group()
    assert "<td>just-started</td><td>sft</td><td>running</td>" in table and "<td>none logged</td>" in table
    assert _empty(page, "training_curves") == (
        "Training curves: no reward, loss, KL, entropy or accuracy logged yet by just-started"
    )
    assert "<li><b>1</b> training run</li>" in page and 'data-plot="curves_' not in page


@pytest.fixture(scope="module")
def trained(tiny_model_dir, workspace_exports, tmp_path_factory):
    """A real SFT run, a real GRPO run on its model (beta > 0, so KL is logged) and real
    evals of the model before and after SFT, all in a copy of the shared workspace."""
    pytest.importorskip("torch")
    from train.evaluate import run_eval
    from train.grpo import GRPOConfig, run_grpo
    from train.sft import SFTConfig, run_sft

    tmp = tmp_path_factory.mktemp("trained")
    w = tmp / "ws"
    shutil.copytree(workspace_exports.workspace, w, ignore=shutil.ignore_patterns("cotmill.lock"))
    sft = run_sft(SFTConfig(model=str(tiny_model_dir), data=str(workspace_exports.sft), out=str(tmp / "sft"),
                            workspace=str(w), run="tiny-sft", max_steps=4, batch_size=2, max_length=256, lr=3e-3,
                            log_every=1, eval_every=2, eval_samples=2, eval_max_new_tokens=8, warmup_steps=1))  # fmt: skip
    run_grpo(GRPOConfig(model=str(sft.final), data=str(workspace_exports.rl), out=str(tmp / "grpo"), workspace=str(w),
                        run="tiny-grpo", max_steps=3, prompts_per_step=2, group_size=4, max_new_tokens=8, lora_r=8,
                        lora_alpha=16, beta=0.1, save_every=100, sample_every=100))  # fmt: skip
    for run, model in (("heldout-a", tiny_model_dir), ("heldout-b", sft.final)):
        run_eval(model, workspace_exports.rl, split="val", limit=6, max_new_tokens=8, workspace=w, run=run)
    return w, _report(w, tmp / "report.html"), tmp / "report.html"


def test_training_runs_are_listed_and_their_curves_drawn(trained):
    workspace, page, _ = trained
    assert "no training runs yet" not in page
    assert "<li><b>2</b> training runs</li>" in page and "<li><b>2</b> eval runs</li>" in page
    table = re.search(r'<table class="runs">.*?</table>', page, re.S).group()
    assert "tiny-sft" in table and "tiny-grpo" in table and table.count("<td>finished</td>") == 2
    sft, grpo = _svg_text(_figure(page, "curves_sft")), _svg_text(_figure(page, "curves_grpo"))
    # each panel's title, the run names in the legend
    assert {"loss", "accuracy", "tiny-sft", "train/loss", "eval/loss"} <= set(sft), sft
    assert {"reward", "loss", "KL", "entropy", "accuracy", "tiny-grpo"} <= set(grpo), grpo
    assert "tiny-grpo" not in sft and "tiny-sft" not in grpo


def test_evals_before_and_after_with_n(trained):
    workspace, page, _ = trained
    n = query(
        workspace, "SELECT n FROM evals WHERE run = 'heldout-a' AND domain = 'all' AND metric = 'pass@1'"
    )
    assert n == [(6,)]
    table = re.search(r'<table class="evals"><caption>heldout</caption>.*?</table>', page, re.S).group()
    header = re.findall(r"<th>(.*?)</th>", table)
    assert header[3] == "heldout-a<br><small>tiny0/model</small>"
    assert header[4] == "heldout-b<br><small>sft/final</small>" and header[5] == "after − before"
    overall = re.search(r"<tr><td>all</td><td>all</td><td>pass@1</td>(.*?)</tr>", table).group(1)
    assert overall.count("n=6") == 2 and re.search(r"[+-]\d+\.\d pts", overall)
    bars = _svg_text(_figure(page, "eval_0"))
    assert {"heldout-a", "heldout-b"} <= set(bars) and sum(t.endswith("n=6") for t in bars) == 2


def test_each_before_after_pair_gets_its_table(fresh, tmp_path):
    """Two seeds of a recipe each evaluate before and after (cotmill eval's NAME-a, NAME-b):
    a table per pair, so no delta compares one seed's before with another's after; one bar
    chart shows them all."""
    import datetime as dt

    from train.evaluate import EvalResult, Score, store_eval

    workspace = tmp_path / "w"
    shutil.copytree(fresh[0], workspace, ignore=shutil.ignore_patterns("cotmill.lock"))
    for seed, (before, after) in enumerate([(0.2, 0.35), (0.3, 0.25)]):
        for tag, value in (("a", before), ("b", after)):
            scores = [
                Score("all", "all", "pass@1", 1, value, 40),
                Score("math", "all", "pass@1", 1, value, 40),
            ]
            result = EvalResult(1, 0.0, [], scores, model=f"runs/s{seed}/{tag}", data="heldout", split="val",
                                run=f"greedy-s{seed}-{tag}", config={"samples": 1, "temperature": 0.0})  # fmt: skip
            store_eval(workspace, result, dt.datetime.now())
    page = _report(workspace, tmp_path / "report.html")
    assert "Evals on heldout, split val, 1 sample per problem (greedy)" in page
    tables = re.findall(r'<table class="evals"><caption>(.*?)</caption>(.*?)</table>', page, re.S)
    assert [caption for caption, _ in tables] == ["greedy-s0", "greedy-s1"]
    deltas = [re.findall(r"<td>([+-]\d+\.\d) pts</td>", table) for _, table in tables]
    assert deltas == [["+15.0", "+15.0"], ["-5.0", "-5.0"]]
    assert all(table.count("n=40") == 4 for _, table in tables)
    bars = _svg_text(_figure(page, "eval_0"))
    assert [t for t in bars if t.startswith("greedy-")] == [
        "greedy-s0-a",
        "greedy-s0-b",
        "greedy-s1-a",
        "greedy-s1-b",
    ]
    assert sum(t == "n=40" for t in bars) == 4


CHROMIUM = next((shutil.which(name) for name in ("chromium", "chromium-browser", "google-chrome")
                 if shutil.which(name)), None)  # fmt: skip
# what a headless Chromium needs on a closed network: no sandbox (root), no GPU, and
# nothing that phones home and waits for an answer that never comes
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--force-device-scale-factor=1", "--hide-scrollbars"]  # fmt: skip
WIDTH, HEIGHT = 1280, 4000

# appended to a copy of the page (the report itself has no script): where each plot and
# line landed on the page, and what its drawing covers, for --dump-dom to bring back
MEASURE = """<script>
const box = e => { const r = e.getBoundingClientRect(); return [r.left, r.top + scrollY, r.width, r.height]; };
const plots = [...document.querySelectorAll("figure.plot")].map(f => {
  const svg = f.querySelector("svg");
  return {name: f.dataset.plot, svg: svg ? box(svg) : null,
          marks: svg ? svg.querySelectorAll("g[id^=axes_] path, g[id^=axes_] use").length : 0};
});
const images = [...document.images].map(i => ({src: i.src.slice(0, 40), ok: i.complete && i.naturalWidth > 0}));
const empty = [...document.querySelectorAll("p.empty")].map(p => [p.dataset.empty, box(p)]);
const out = document.createElement("pre"); out.id = "layout";
out.textContent = JSON.stringify({plots, images, empty, width: document.documentElement.scrollWidth,
                                   height: document.documentElement.scrollHeight});
document.body.append(out);
</script>"""


def _chromium(tmp_path, *args) -> subprocess.CompletedProcess:
    result = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *args],
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    return result


@pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium binary on PATH (make test installs it with apt as root)"
)
def test_the_page_renders_in_headless_chromium_as_a_person_sees_it(trained, tmp_path):
    import numpy as np
    from PIL import Image

    _, page, path = trained
    probe = tmp_path / "probe.html"
    probe.write_text(page.replace("</body>", MEASURE + "</body>"), encoding="utf-8")
    dom = _chromium(tmp_path, f"--window-size={WIDTH},{HEIGHT}", "--dump-dom", probe.as_uri()).stdout
    layout = json.loads(html.unescape(re.search(r'<pre id="layout">(.*?)</pre>', dom, re.S).group(1)))
    names = [p["name"] for p in layout["plots"]]
    assert names == re.findall(r'<figure class="plot" data-plot="(\w+)">', page)
    assert {"cost", "curves_sft", "curves_grpo", "eval_0", "mixtures"} - {"cost"} <= set(names)
    assert all(i["ok"] for i in layout["images"]), layout["images"]  # any <img> loaded
    assert layout["width"] <= WIDTH  # nothing pushes the page sideways
    for plot in layout["plots"]:
        x, y, w, h = plot["svg"]
        assert w > 150 and h > 100 and x + w <= WIDTH, plot  # laid out at a readable size
        assert plot["marks"] > 10, plot  # its axes hold bars, lines, ticks: drawn, not empty

    # a window as tall as the page, so the screenshot holds every plot
    shot, height = tmp_path / "report.png", max(HEIGHT, layout["height"])
    _chromium(tmp_path, f"--window-size={WIDTH},{height}", f"--screenshot={shot}", path.as_uri())
    image = np.asarray(Image.open(shot).convert("L"), dtype=float)
    assert image.shape == (height, WIDTH)
    assert image.std() > 20 and (image < 128).mean() > 0.005  # not blank: text, axes, bars
    for plot in layout["plots"]:
        x, y, w, h = (round(v) for v in plot["svg"])
        region = image[y : y + h, x : x + w]
        # where the plot was laid out, it was painted: dark axes and bars or lines on white
        assert region.std() > 15 and (region < 100).mean() > 0.003, plot["name"]
    # the one-line messages are single lines of text, not boxes of empty space
    for name, (_, _, _, h) in layout["empty"]:
        assert h < 40, name
