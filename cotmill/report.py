"""`cotmill report`: one self-contained HTML page about a workspace.

Plots are drawn with matplotlib as inline SVG (no scripts, no network), each in a
`<figure class="plot" data-plot="NAME">`, so the page opens anywhere and a test
can find every plot. A section without data says so instead of drawing nothing.
"""

from __future__ import annotations

import html
import io
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


def _svg(fig) -> str:
    import matplotlib.pyplot as plt

    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg") :]  # drop the XML prologue: it is inline


def _bars(labels: list[str], values: list[float], ylabel: str, percent: bool = False) -> str:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(max(4, 0.5 * len(labels) + 2), 3))
    ax.bar(range(len(labels)), values, color="#4c72b0")
    ax.set_xticks(range(len(labels)), labels, rotation=45 if len(labels) > 4 else 0, ha="right")
    ax.set_ylabel(ylabel)
    if percent:
        ax.set_ylim(0, 1)
        ax.yaxis.set_major_formatter(plt.FuncFormatter(lambda y, _: f"{y:.0%}"))
    return _svg(fig)


def _histograms(groups: dict[str, list[int]]) -> str:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3))
    for name, values in sorted(groups.items()):
        ax.hist(values, bins=30, alpha=0.6, label=name)
    ax.set_xlabel("completion tokens")
    ax.set_ylabel("completions")
    ax.legend()
    return _svg(fig)


def _stacked(mixtures: dict[str, dict[str, int]]) -> str:
    import matplotlib.pyplot as plt

    domains = sorted({d for counts in mixtures.values() for d in counts})
    names = sorted(mixtures)
    fig, ax = plt.subplots(figsize=(max(4, len(names) + 2), 3))
    bottom = [0] * len(names)
    for domain in domains:
        heights = [mixtures[n].get(domain, 0) for n in names]
        ax.bar(names, heights, bottom=bottom, label=domain)
        bottom = [b + h for b, h in zip(bottom, heights)]
    ax.set_ylabel("items")
    ax.legend()
    return _svg(fig)


def _figure(name: str, title: str, body: str) -> str:
    return f'<figure class="plot" data-plot="{name}"><figcaption>{html.escape(title)}</figcaption>{body}</figure>'


def _empty(title: str, why: str) -> str:
    return f'<section class="empty"><h3>{html.escape(title)}</h3><p>{html.escape(why)}</p></section>'


def _sections(con) -> list[str]:
    parts = []
    for name, title, sql in SECTIONS:
        rows = con.execute(sql).fetchall()
        if rows:
            parts.append(
                _figure(
                    name, title, _bars([str(r[0]) for r in rows], [r[1] for r in rows], "pass rate", True)
                )
            )
        else:
            parts.append(_empty(title, "no verdicts yet: run cotmill verify"))
    rows = con.execute(
        "SELECT p.domain, c.completion_tokens FROM completions c JOIN problems p USING (problem_id) "
        "WHERE c.error IS NULL AND c.completion_tokens IS NOT NULL"
    ).fetchall()
    groups: dict[str, list[int]] = {}
    for domain, tokens in rows:
        groups.setdefault(domain, []).append(tokens)
    parts.append(_figure("token_lengths", "Completion length by domain", _histograms(groups)) if groups
                 else _empty("Completion length by domain", "no completions yet"))  # fmt: skip
    cost = con.execute("SELECT job, sum(cost_usd) FROM completions GROUP BY 1 ORDER BY 1").fetchall()
    parts.append(_figure("cost", "Cost by job (USD)", _bars([r[0] for r in cost], [r[1] or 0 for r in cost], "USD"))
                 if cost else _empty("Cost by job", "no completions yet"))  # fmt: skip
    mixes: dict[str, dict[str, int]] = {}
    for mixture, domain, n in con.execute(
        "SELECT mixture, domain, count(*) FROM mixture_items GROUP BY 1, 2"
    ).fetchall():
        mixes.setdefault(mixture, {})[domain] = n
    parts.append(_figure("mixtures", "Mixture composition", _stacked(mixes)) if mixes
                 else _empty("Mixture composition", "no mixtures yet: run cotmill mix build"))  # fmt: skip
    parts.append(_empty("Training curves", "no training runs yet (cotmill train arrives with its own issue)"))
    return parts


def _summary(con) -> str:
    counts = {t: con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0]
              for t in ("problems", "completions", "verdicts", "mixtures")}  # fmt: skip
    cells = "".join(f"<li><b>{n:,}</b> {t}</li>" for t, n in counts.items())
    return f'<ul class="summary">{cells}</ul>'


STYLE = """body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px}
figure.plot{display:inline-block;margin:1em;vertical-align:top}figcaption{font-weight:600;margin-bottom:.3em}
ul.summary{list-style:none;padding:0;display:flex;gap:2em}.empty{color:#777}"""


def write_report(workspace, out: str | Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")  # no display here, or anywhere a report is made
    with Store.open(workspace, read_only=True) as store:
        body = _summary(store.con) + "".join(_sections(store.con))
        where = html.escape(str(store.root))
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>cotmill report: {where}</title>"
            f"<style>{STYLE}</style></head><body><h1>cotmill report</h1><p>workspace {where}</p>{body}</body></html>")  # fmt: skip
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    return out
