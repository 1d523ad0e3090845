"""`cotmill report`: one self-contained HTML page about a workspace.

Plots are drawn with matplotlib as inline SVG (no scripts, no network), each in a
`<figure class="plot" data-plot="NAME">`, so the page opens anywhere and a test
can find every plot. Every bar is labelled with its n. A plot with nothing to show
(no rows, or a cost that is $0 everywhere) is replaced by one line that says why,
a `<p class="empty" data-empty="NAME">`.

Sections: the data (pass rates, completion lengths, cost, mixtures), training (the
`runs` table's training runs and their curves from `metrics`) and evals (the `evals`
table: per comparable set of eval runs, a before/after table and a bar chart).
"""

from __future__ import annotations

import html
import io
import json
import math
from pathlib import Path

from datagen.store import Store

# the latest verdict of each completion by its problem's own verifier, as `curated` reads it
PASS_RATE = """
    SELECT {key} AS key, avg(passed::INT) AS rate, count(*) AS n FROM (
        SELECT v.passed, p.*, c.teacher FROM verdicts v
        JOIN completions c USING (completion_id) JOIN problems p USING (problem_id)
        WHERE v.verifier = p.verifier
        QUALIFY row_number() OVER (PARTITION BY v.completion_id ORDER BY v.created_at DESC) = 1
    ) p GROUP BY 1 ORDER BY {order}
"""

SECTIONS = [
    ("pass_rate_domain", "Pass rate by domain", PASS_RATE.format(key="domain", order="1")),
    ("pass_rate_task", "Pass rate by task", PASS_RATE.format(key="task", order="1")),
    (
        "pass_rate_difficulty",
        "Pass rate by difficulty",
        PASS_RATE.format(key="coalesce(difficulty::VARCHAR, '?')", order="min(difficulty) NULLS LAST"),
    ),
    ("pass_rate_teacher", "Pass rate by teacher", PASS_RATE.format(key="teacher", order="1")),
]

# training curves: one panel per quantity, each drawn from the metric names SFT
# (train/loss, eval/loss, eval/accuracy) and GRPO (reward/..., train/loss, train/kl,
# train/entropy) log; where a panel has both of its names, the first is solid, the second dashed
PANELS = [
    ("reward", ("reward/total_mean",)),
    ("loss", ("train/loss", "eval/loss")),
    ("KL", ("train/kl",)),
    ("entropy", ("train/entropy",)),
    # eval/accuracy: SFT's greedy accuracy on val problems; reward/verifier_mean: the
    # share of GRPO's sampled completions the verifier passes (partial credit for code)
    ("accuracy", ("eval/accuracy", "reward/verifier_mean")),
]
CURVE_METRICS = [name for _, names in PANELS for name in names]
STYLES = ("-", "--")


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def _has_table(con, table: str) -> bool:
    # a workspace opened read-only is not migrated: an old one may lack the training tables
    sql = "SELECT count(*) FROM information_schema.tables WHERE table_name = ?"
    return bool(con.execute(sql, [table]).fetchall()[0][0])


def _svg(fig) -> str:
    import matplotlib.pyplot as plt

    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg") :]  # drop the XML prologue: it is inline


def _xticks(ax, labels: list[str]) -> None:
    rotate = len(labels) > 4 or max((len(s) for s in labels), default=0) * len(labels) > 36
    ax.set_xticks(range(len(labels)), labels, rotation=35 * rotate, ha="right" if rotate else "center")


def _bars(labels: list[str], values: list[float], ns: list[int], ylabel: str, percent: bool = False,
          unit: str = "") -> str:  # fmt: skip
    """Bars labelled with their value and n above them."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(max(4, 0.6 * len(labels) + 2), 3))
    bars = ax.bar(range(len(labels)), values, color="#4c72b0")
    _xticks(ax, labels)
    ax.set_ylabel(ylabel)
    value = (lambda v: f"{v:.0%}") if percent else (lambda v: f"{unit}{v:.3g}")
    ax.bar_label(bars, [f"{value(v)}\nn={n:,}" for v, n in zip(values, ns)], fontsize=7, padding=2)
    if percent:
        ax.set_ylim(0, 1.25)  # room for the labels above a 100% bar
        ax.set_yticks([0, 0.25, 0.5, 0.75, 1])
        ax.yaxis.set_major_formatter(plt.FuncFormatter(lambda y, _: f"{y:.0%}"))
    else:
        ax.set_ylim(0, max(max(values), 1e-9) * 1.3)
    ax.spines[["top", "right"]].set_visible(False)
    return _svg(fig)


def _histograms(groups: dict[str, list[int]]) -> str:
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.ticker import MaxNLocator

    fig, ax = plt.subplots(figsize=(6, 3))
    # one set of bins for every domain, so their bars line up and compare
    bins = np.histogram_bin_edges([v for values in groups.values() for v in values], bins=30)
    for name, values in sorted(groups.items()):
        ax.hist(values, bins=bins, alpha=0.6, label=f"{name} (n={len(values):,})")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("completion tokens")
    ax.set_ylabel("completions")
    ax.legend(fontsize=8)
    return _svg(fig)


def _stacked(mixtures: dict[str, dict[str, int]]) -> str:
    """A bar per mixture, stacked by domain, its total n above it."""
    import matplotlib.pyplot as plt

    domains = sorted({d for counts in mixtures.values() for d in counts})
    names = sorted(mixtures)
    fig, ax = plt.subplots(figsize=(max(4, len(names) + 2.5), 3))
    bottom = [0] * len(names)
    for domain in domains:
        heights = [mixtures[n].get(domain, 0) for n in names]
        ax.bar(range(len(names)), heights, bottom=bottom, label=domain)
        bottom = [b + h for b, h in zip(bottom, heights)]
    for x, total in enumerate(bottom):
        ax.annotate(f"n={total:,}", (x, total), xytext=(0, 2), textcoords="offset points", ha="center",
                    va="bottom", fontsize=7)  # fmt: skip
    _xticks(ax, names)
    ax.set_ylim(0, max(bottom) * 1.15)
    ax.set_ylabel("items")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
    return _svg(fig)


def _figure(name: str, title: str, body: str) -> str:
    return f'<figure class="plot" data-plot="{name}"><figcaption>{html.escape(title)}</figcaption>{body}</figure>'


def _empty(name: str, title: str, why: str) -> str:
    """The one line that stands for a plot with nothing to show."""
    return f'<p class="empty" data-empty="{name}"><b>{html.escape(title)}:</b> {html.escape(why)}</p>'


def _data_sections(con) -> list[str]:
    parts = ["<h2>Data</h2>"]
    for name, title, sql in SECTIONS:
        rows = con.execute(sql).fetchall()
        if rows:
            keys, rates, ns = zip(*rows)
            parts.append(_figure(name, title, _bars([str(k) for k in keys], rates, ns, "pass rate", True)))
        else:
            parts.append(_empty(name, title, "no verdicts yet: run cotmill verify"))
    rows = con.execute(
        "SELECT p.domain, c.completion_tokens FROM completions c JOIN problems p USING (problem_id) "
        "WHERE c.error IS NULL AND c.completion_tokens IS NOT NULL"
    ).fetchall()
    groups: dict[str, list[int]] = {}
    for domain, tokens in rows:
        groups.setdefault(domain, []).append(tokens)
    title = "Completion length by domain"
    parts.append(_figure("token_lengths", title, _histograms(groups)) if groups
                 else _empty("token_lengths", title, "no completions yet"))  # fmt: skip
    parts.append(_cost(con))
    mixes: dict[str, dict[str, int]] = {}
    for mixture, domain, n in con.execute(
        "SELECT mixture, domain, count(*) FROM mixture_items GROUP BY 1, 2"
    ).fetchall():
        mixes.setdefault(mixture, {})[domain] = n
    title = "Mixture composition"
    parts.append(_figure("mixtures", title, _stacked(mixes)) if mixes
                 else _empty("mixtures", title, "no mixtures yet: run cotmill mix build"))  # fmt: skip
    return parts


def _cost(con) -> str:
    title = "Cost by job (USD)"
    rows = con.execute("SELECT job, sum(cost_usd), count(*) FROM completions GROUP BY 1 ORDER BY 1")
    rows = rows.fetchall()
    if not rows:
        return _empty("cost", title, "no completions yet")
    if all(not cost for _, cost, _ in rows):  # a bar chart of zeros says nothing
        teachers = [t for (t,) in con.execute("SELECT DISTINCT teacher FROM completions ORDER BY 1").fetchall()]  # fmt: skip
        unrecorded = con.execute("SELECT count(*) FROM completions WHERE cost_usd IS NULL").fetchall()[0][0]
        what = "cost $0 or has no recorded cost" if unrecorded else "cost $0"
        who = ("teacher: " if len(teachers) == 1 else "teachers: ") + ", ".join(teachers)
        return _empty("cost", "No cost to show", f"every completion {what} ({who}).")
    body = _bars([r[0] for r in rows], [r[1] or 0.0 for r in rows], [r[2] for r in rows], "USD", unit="$")
    return _figure("cost", title, body)


def _table(header: list[str], rows: list[list[str]], cls: str, caption: str = "") -> str:
    """Cells and header are HTML already (escaped where they hold data)."""
    head = "".join(f"<th>{h}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    caption = f"<caption>{caption}</caption>" if caption else ""
    return f'<table class="{cls}">{caption}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _when(value) -> str:
    return f"{value:%Y-%m-%d %H:%M}" if value is not None else ""


def _training_sections(con) -> list[str]:
    parts = ["<h2>Training</h2>"]
    if not _has_table(con, "runs"):
        return [*parts, _empty("training_runs", "Training runs", "this workspace predates training runs")]
    runs = con.execute(
        "SELECT r.run, r.kind, r.status, r.model, r.data, r.started_at, r.finished_at, max(m.step) "
        "FROM runs r LEFT JOIN metrics m USING (run) WHERE r.kind IS DISTINCT FROM 'eval' "
        "GROUP BY ALL ORDER BY r.started_at NULLS LAST, r.run"
    ).fetchall()
    if not runs:
        return [*parts, _empty("training_runs", "Training runs",
                               "no training runs yet: run cotmill train sft or cotmill train grpo")]  # fmt: skip
    rows = [[html.escape(str(c or "")) for c in (run, kind, status, model, data)]
            + [f"{last:,}" if last is not None else "none logged", _when(started), _when(finished)]
            for run, kind, status, model, data, started, finished, last in runs]  # fmt: skip
    header = ["run", "kind", "status", "model", "data", "last step", "started", "finished"]
    parts.append(f"<h3>{_plural(len(runs), 'training run')}</h3>" + _table(header, rows, "runs"))
    parts.extend(_curves(con, [r[0] for r in runs]))
    return parts


def _curves(con, runs: list[str]) -> list[str]:
    """One small-multiples figure per run kind (sft, grpo): a panel per quantity, a line per run."""
    names = CURVE_METRICS
    rows = con.execute(
        f"SELECT m.run, coalesce(r.kind, 'other'), m.name, m.step, m.value FROM metrics m LEFT JOIN runs r USING (run) "
        f"WHERE m.name IN ({', '.join('?' * len(names))}) AND m.value IS NOT NULL AND isfinite(m.value) "
        # a resumed run may log a step again: the latest row wins
        "QUALIFY row_number() OVER (PARTITION BY m.run, m.name, m.step ORDER BY m.created_at DESC) = 1 "
        "ORDER BY m.run, m.name, m.step",
        names,
    ).fetchall()
    series: dict[str, dict[tuple[str, str], list[tuple[int, float]]]] = {}
    for run, kind, name, step, value in rows:
        series.setdefault(kind, {}).setdefault((run, name), []).append((step, value))
    if not series:
        quiet = ", ".join(runs[:5]) + (", ..." if len(runs) > 5 else "")
        return [_empty("training_curves", "Training curves",
                       f"no reward, loss, KL, entropy or accuracy logged yet by {quiet}")]  # fmt: skip
    order, parts = {"sft": 0, "grpo": 1}, []
    for kind in sorted(series, key=lambda k: (order.get(k, 2), k)):
        svg, window = _small_multiples(series[kind])
        how = f" (faint: each step; solid: mean of the last {window} steps)" if window else ""
        parts.append(_figure(f"curves_{kind}", f"Training curves: {kind}{how}", svg))
    return parts


def _small_multiples(series: dict[tuple[str, str], list[tuple[int, float]]]) -> tuple[str, int]:
    """The figure, and the window of the moving average drawn over long series (0: none)."""
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.lines import Line2D
    from matplotlib.ticker import MaxNLocator

    panels = [(title, [n for n in names if any(name == n for _, name in series)]) for title, names in PANELS]
    panels = [(title, names) for title, names in panels if names]
    runs = sorted({run for run, _ in series})
    colors = {run: plt.get_cmap("tab10")(i % 10) for i, run in enumerate(runs)}
    # a value per step is noisy (GRPO's reward, a loss): over a long run, a moving average shows the trend
    longest = max(len(points) for points in series.values())
    window = max(5, longest // 25) if longest > 50 else 0
    cols = min(3, len(panels))
    rows = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 2.5 * rows), squeeze=False)
    for ax in axes.flat[len(panels) :]:
        ax.set_visible(False)
    for ax, (title, names) in zip(axes.flat, panels):
        for run in runs:
            for name in names:
                points = series.get((run, name))
                if not points:
                    continue
                steps, values = zip(*points)
                style = STYLES[names.index(name)]
                if window and len(points) >= max(51, 2 * window):
                    mean = np.convolve(values, np.ones(window) / window, mode="valid")
                    every = max(1, len(points) // 1000)  # a page of SVG paths, not megabytes
                    faint = {"color": colors[run], "linewidth": 0.7, "alpha": 0.25}
                    ax.plot(steps[::every], values[::every], style, **faint)
                    ax.plot(
                        steps[window - 1 :: every], mean[::every], style, color=colors[run], linewidth=1.5
                    )
                else:
                    ax.plot(steps, values, style, color=colors[run], linewidth=1.3,
                            marker="o" if len(points) <= 12 else None, markersize=3)  # fmt: skip
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("step", fontsize=8)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # steps are whole numbers
        ax.yaxis.get_major_formatter().set_useOffset(False)  # "+7.5977" above an axis reads as noise
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        if len(names) > 1:  # which line style is which metric
            ax.legend([Line2D([], [], color="0.3", linestyle=style) for style in STYLES], names,
                      fontsize=7)  # fmt: skip
        else:
            ax.set_ylabel(names[0], fontsize=8)
    fig.tight_layout()
    handles = [Line2D([], [], color=colors[run], linewidth=2) for run in runs]
    fig.legend(handles, runs, loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, title="run",
               title_fontsize=8)  # fmt: skip
    return _svg(fig), window


def _wilson(p: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson interval of a share p of n. A score that averages several samples per
    problem varies less than a pass/fail one, so there the interval is wider than needed."""
    if n <= 0:
        return 0.0, 1.0
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def _short(model: str) -> str:
    """A model path's last two parts (runs/sft/final -> sft/final): enough to tell models apart."""
    return "/".join(Path(model).parts[-2:]) if model else "?"


def _eval_sections(con) -> list[str]:
    parts = ["<h2>Evals</h2>"]
    if not _has_table(con, "evals"):
        return [*parts, _empty("evals", "Evals", "this workspace predates evals")]
    rows = con.execute(
        "SELECT e.run, e.model, e.data, e.split, e.domain, e.task, e.metric, e.k, e.value, e.n, r.config, "
        "coalesce(r.started_at, e.created_at) FROM evals e LEFT JOIN runs r USING (run) "
        "ORDER BY 12, e.run"
    ).fetchall()
    if not rows:
        return [*parts, _empty("evals", "Evals", "no evals yet: run cotmill eval")]
    # runs are comparable when they scored the same problems the same way: data, split,
    # samples and temperature (a greedy and a sampled eval of one model are two sets)
    sets: dict[tuple, dict] = {}
    for run, model, data, split, domain, task, metric, k, value, n, config, _ in rows:
        cfg = json.loads(config) if config else {}
        key = (data, split, cfg.get("samples"), cfg.get("temperature"))
        s = sets.setdefault(key, {"runs": {}, "cells": {}})
        s["runs"].setdefault(run, model)
        s["cells"][(domain, task, metric.replace("@k", f"@{k}"), run)] = (value, n)
    parts.append('<p class="note">Each table: runs in the order they ran, so its first column is before and its '
                 "last after (<code>cotmill eval --model A --model B --run NAME</code> stores NAME-a and NAME-b, "
                 "one table). Brackets: 95% Wilson interval over the n problems.</p>")  # fmt: skip
    for i, ((data, split, samples, temperature), s) in enumerate(sets.items()):
        how = "" if samples is None else f", {_plural(samples, 'sample')} per problem"
        if temperature is not None:
            how += " (greedy)" if temperature == 0 else f" at temperature {temperature:g}"
        title = f"{data or '?'}, split {split or '?'}{how}"
        parts.append(f"<h3>Evals on {html.escape(title)}</h3>")
        parts.extend(_eval_table(stem, runs, s["cells"]) for stem, runs in _pairs(s["runs"]).items())
        parts.append(_eval_bars(f"eval_{i}", title, s["runs"], s["cells"]))
    return parts


def _pairs(runs: dict[str, str]) -> dict[str, dict[str, str]]:
    """The runs of one `cotmill eval` of two models (NAME-a, NAME-b) by NAME; other runs
    together under ''. Pairs keep before and after apart from other seeds and recipes."""
    groups: dict[str, dict[str, str]] = {}
    for run, model in runs.items():
        stem = run[:-2] if run[-2:] in ("-a", "-b") and f"{run[:-2]}-{'ba'[run[-1] == 'b']}" in runs else ""
        groups.setdefault(stem, {})[run] = model
    return groups


def _eval_table(stem: str, runs: dict[str, str], cells: dict) -> str:
    names = list(runs)
    keys = sorted({(d, t, m) for d, t, m, r in cells if r in runs},
                  key=lambda key: (key[0] != "all", key[0], key[1] != "all", key[1], key[2]))  # fmt: skip
    header = ["domain", "task", "metric"]
    header += [f"{html.escape(run)}<br><small>{html.escape(_short(runs[run]))}</small>" for run in names]
    if len(names) > 1:
        header.append("after − before")
    rows = []
    for domain, task, metric in keys:
        row = [html.escape(str(c)) for c in (domain, task, metric)]
        for run in names:
            cell = cells.get((domain, task, metric, run))
            if cell is None:
                row.append("")
                continue
            value, n = cell
            lo, hi = _wilson(value, n)
            row.append(f"<b>{value:.1%}</b> <small>[{lo:.0%}–{hi:.0%}] n={n:,}</small>")
        if len(names) > 1:
            first, last = (cells.get((domain, task, metric, run)) for run in (names[0], names[-1]))
            row.append(f"{(last[0] - first[0]) * 100:+.1f} pts" if first and last else "")
        rows.append(row)
    return _table(header, rows, "evals", html.escape(stem))


def _eval_bars(name: str, title: str, runs: dict[str, str], cells: dict) -> str:
    """Overall pass@1 of each run of the set, its n above the bar."""
    have = [(run, cells[key]) for run in runs if (key := ("all", "all", "pass@1", run)) in cells]
    caption = f"Overall pass@1: {title}"
    if not have:
        return _empty(name, caption, "no overall pass@1 stored for these runs")
    labels, values, ns = [run for run, _ in have], [v for _, (v, _) in have], [n for _, (_, n) in have]
    return _figure(name, caption, _bars(labels, values, ns, "pass@1", True))


def _summary(con) -> str:
    counts = [(con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0], word)
              for t, word in (("problems", "problem"), ("completions", "completion"), ("verdicts", "verdict"),
                              ("mixtures", "mixture"))]  # fmt: skip
    if _has_table(con, "runs"):
        for word, where in (("training run", "kind IS DISTINCT FROM 'eval'"), ("eval run", "kind = 'eval'")):
            counts.append((con.execute(f"SELECT count(*) FROM runs WHERE {where}").fetchall()[0][0], word))
    cells = "".join(f"<li><b>{n:,}</b> {word if n == 1 else word + 's'}</li>" for n, word in counts)
    return f'<ul class="summary">{cells}</ul>'


STYLE = """body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px}
figure.plot{display:inline-block;margin:1em;vertical-align:top;max-width:100%}
figure.plot svg{max-width:100%;height:auto}figcaption{font-weight:600;margin-bottom:.3em}
ul.summary{list-style:none;padding:0;display:flex;flex-wrap:wrap;gap:2em}.empty{color:#777;margin:.6em 1em}
h2{border-bottom:1px solid #ccc;margin-top:1.5em}table{border-collapse:collapse;margin:.5em 1em;font-size:.9em}
th,td{border:1px solid #ddd;padding:.25em .6em;text-align:left}th{background:#f4f4f4}
td small,th small{color:#666;font-weight:normal}.note{color:#555;font-size:.9em}
caption{text-align:left;font-weight:600;padding:.2em 0}
table.runs td:first-child,table.runs td:nth-child(n+6){white-space:nowrap}"""


def write_report(workspace, out: str | Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")  # no display here, or anywhere a report is made
    with Store.open(workspace, read_only=True) as store:
        con = store.con
        body = _summary(con) + "".join(_data_sections(con) + _training_sections(con) + _eval_sections(con))
        where = html.escape(str(store.root))
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>cotmill report: {where}</title>"
            f"<style>{STYLE}</style></head><body><h1>cotmill report</h1><p>workspace {where}</p>{body}</body></html>")  # fmt: skip
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    return out
