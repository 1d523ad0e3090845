"""Export a stored mixture as training data: sft, rl, prm or dpo rows, written as
Parquet, JSONL or a `datasets` directory, one file (or split) per train/val.

Prompts are rendered as generation rendered them: the completion's job config
names the strategy, template file and system message, and `datagen.prompts`
renders them, so the student sees the very prompt the teacher answered.

Formats (what each row holds):
- sft: `messages` (system when the job had one, user, assistant = the CoT), plus
  completion_id, problem_id, domain, task. The assistant turn is the completion's
  text, after the teacher's separate reasoning when it gave one (blank line between).
  `think_tags` puts the reasoning inside `<think>...</think>` before the answer: the
  separate reasoning when there is one, else the text before its final paragraph
  (or final code block), since teachers like the builtin one write both in one text.
- rl: one row per problem: `prompt` (messages), `reference`, `verifier`, problem_id,
  domain, task, difficulty, pass_rate, `meta` (the problem's meta as JSON text; logic
  verifiers need it).
- prm: TRL's stepwise-supervision format, `prompt` (the user message), `completions`
  (step texts) and `labels` (one bool per step) from the step checker's verdict:
  correct -> True, wrong -> False, unchecked -> True (the checker found no false
  claim, and dropping such steps would leave holes in the solution). Rows: every
  mixture item with step labels, plus every failing completion of the mixture's
  problems that has them (its wrong steps are what a PRM learns from). Only math
  verdicts carry steps, so other domains give no prm rows.
- dpo: `prompt` (messages), `chosen` (the mixture's passing completion) and
  `rejected` (a failing completion of the same problem, from its verdicts), as
  assistant-message lists (TRL's conversational preference format); problems with
  no failing completion give no pair.

Formats are registered by name (`FORMATS`, see verifiers.registry; plugins add theirs
through the `cotmill.exports` entry points) as `(store, items, options) -> rows`: `items`
are the mixture's chosen completions (completion_id, problem_id, split, ...) and
`options` an ExportOptions. The CLI's `--format` and the pipeline's `export.format`
accept every registered name.

Empty splits are not written (a spec without `split.val` has no val file); an export
with no rows at all is an ExportError that says why (`why_empty`). The directory
is the export's own, with a manifest (`cotmill-export.json`); see mixtures.export_dir.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from datagen.prompts import TemplateError, load_template, render_messages
from datagen.records import content_hash
from datagen.store import Store, resolve_workspace
from mixtures.build import eligible_sql
from mixtures.difficulty import rl_pool
from mixtures.export_dir import WRITERS, ExportError, check_out, write_export
from verifiers.registry import Registry

__all__ = [
    "FORMATS",
    "WRITERS",
    "ExportError",
    "ExportOptions",
    "check_format",
    "export_mixture",
    "export_rows",
    "register",
    "split_reasoning",
]

# name -> (store, items, options) -> rows; the built-ins register themselves below
FORMATS = Registry("export", builtins=("mixtures.export",))


@dataclass(frozen=True)
class ExportOptions:
    """What `cotmill export` passes every format (each reads what it needs)."""

    mixture: str
    think_tags: bool = False
    pass_rates: tuple = (None, None)  # rl: (min, max) measured pass rate


def register(name: str, fn=None):
    """`@register("alpaca")` on `fn(store, items, options) -> list[dict]`, each row with its
    `split` ("train" or "val", as the item's)."""
    return FORMATS.register(name, fn)


def check_format(fmt: str) -> str:
    """`fmt` if it is a registered format (a plugin's too); ExportError otherwise. What
    export_rows and the config models (cotmill.config.ExportConfig) check a format with."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r}; use one of {', '.join(FORMATS.names())}")
    return fmt


# the latest verdict of a completion by its problem's own verifier, as `curated` reads it
_LATEST = """
    WITH latest AS (
        SELECT v.*, row_number() OVER (
            PARTITION BY v.completion_id, v.verifier ORDER BY v.created_at DESC, v.verifier_version DESC
        ) AS rn
        FROM verdicts v
    )
"""

_ITEMS_SQL = (
    _LATEST
    + """
    SELECT mi.position, mi.split, mi.completion_id, mi.problem_id, p.domain, p.task, p.prompt, p.answer,
           p.meta, p.verifier, p.difficulty, d.pass_rate, c.text, c.reasoning, c.job, c.strategy, l.steps
    FROM mixture_items mi
    JOIN completions c ON c.completion_id = mi.completion_id
    JOIN problems p ON p.problem_id = c.problem_id
    LEFT JOIN difficulty d ON d.problem_id = p.problem_id
    LEFT JOIN latest l ON l.completion_id = c.completion_id AND l.verifier = p.verifier AND l.rn = 1
    WHERE mi.mixture = ?
    ORDER BY mi.position
"""
)

_FAILING_SQL = (
    _LATEST
    + """
    SELECT c.completion_id, c.problem_id, c.text, c.reasoning, l.steps
    FROM completions c
    JOIN problems p ON p.problem_id = c.problem_id
    JOIN latest l ON l.completion_id = c.completion_id AND l.verifier = p.verifier AND l.rn = 1 AND NOT l.passed
    WHERE c.error IS NULL AND c.text IS NOT NULL
      AND c.problem_id IN (SELECT problem_id FROM mixture_items WHERE mixture = ?)
    ORDER BY c.problem_id, c.completion_id
"""
)


def _dicts(cursor) -> list[dict]:
    columns = [d[0] for d in cursor.description]
    return [dict(zip(columns, r)) for r in cursor.fetchall()]


class PromptRenderer:
    """The messages a job sent for a problem, from the job's stored config."""

    def __init__(self, store: Store):
        self.store = store
        self._jobs: dict[str, tuple[str, str | None]] = {}

    def _job(self, job: str, strategy_key: str) -> tuple[str, str | None]:
        if job not in self._jobs:
            row = self.store.con.execute("SELECT config FROM jobs WHERE job = ?", [job]).fetchall()
            config = json.loads(row[0][0]) if row and row[0][0] else {}
            strategy = config.get("strategy") or strategy_key.split("+")[0]
            try:
                template = load_template(strategy, config.get("template"))
            except TemplateError as e:
                raise ExportError(f"job {job}: cannot rebuild its prompt: {e}") from None
            system = config.get("system")
            # a custom template or system message is hashed into the strategy key at
            # generation: a template file edited since would export a prompt never sent
            if "+" in strategy_key and strategy_key.split("+")[1] != content_hash(
                template, system or "", size=4
            ):
                raise ExportError(f"job {job}: template {config.get('template')} changed since generation")
            self._jobs[job] = (template, system)
        return self._jobs[job]

    def messages(self, row: dict) -> list[dict[str, str]]:
        template, system = self._job(row["job"], row["strategy"])
        return render_messages(template, row["prompt"], row["domain"], system)


def split_reasoning(text: str, reasoning: str | None) -> tuple[str, str]:
    """(reasoning, answer) of a completion; see the module docstring."""
    if reasoning:
        return reasoning.strip(), text.strip()
    body = text.rstrip()
    if body.endswith("```"):
        cut = body.rfind("```", 0, len(body) - 3)
        cut = body.rfind("\n", 0, cut) + 1 if cut > 0 else -1
    else:
        cut = body.rfind("\n\n")
    if cut <= 0:
        return "", body.strip()
    return body[:cut].strip(), body[cut:].strip()


def assistant_text(text: str, reasoning: str | None, think_tags: bool) -> str:
    if not think_tags:
        return text if not reasoning else f"{reasoning.strip()}\n\n{text.strip()}"
    think, answer = split_reasoning(text, reasoning)
    return f"<think>\n{think}\n</think>\n\n{answer}"


def sft_rows(store: Store, items: list[dict], think_tags: bool) -> list[dict]:
    render = PromptRenderer(store)
    return [
        {"split": r["split"],
         "messages": [*render.messages(r), {"role": "assistant",
                                            "content": assistant_text(r["text"] or "", r["reasoning"], think_tags)}],
         "completion_id": r["completion_id"], "problem_id": r["problem_id"], "domain": r["domain"],
         "task": r["task"]}
        for r in items
    ]  # fmt: skip


def _meta_json(meta) -> str:
    # logic verifiers judge against the puzzle in meta, so rl rows carry it (as JSON text)
    if meta is None:
        return "{}"
    return meta if isinstance(meta, str) else json.dumps(meta)


def rl_rows(
    store: Store, items: list[dict], pass_rates: tuple[float | None, float | None] = (None, None)
) -> list[dict]:
    """One row per problem of the mixture whose measured pass rate is in the RL pool
    (by default 0 < rate < 1: all-pass and all-fail groups give GRPO no signal)."""
    if not store.con.execute("SELECT count(*) FROM difficulty").fetchall()[0][0]:
        raise ExportError("no pass rates measured yet: run `cotmill curate` before an rl export")
    pool = set(rl_pool(store, *pass_rates))
    render = PromptRenderer(store)
    rows, seen = [], set()
    for r in items:
        if r["problem_id"] in seen or r["problem_id"] not in pool:
            continue
        seen.add(r["problem_id"])
        rows.append({"split": r["split"], "prompt": render.messages(r), "reference": r["answer"],
                     "verifier": r["verifier"], "problem_id": r["problem_id"], "domain": r["domain"],
                     "task": r["task"], "difficulty": r["difficulty"], "pass_rate": r["pass_rate"],
                     "meta": _meta_json(r["meta"])})  # fmt: skip
    return rows


def _prm_row(prompt: str, base: dict, completion_id: str, steps_json: str | None) -> dict | None:
    steps = json.loads(steps_json) if steps_json else []
    if not steps:
        return None
    return {**base, "prompt": prompt, "completion_id": completion_id,
            "completions": [s["text"] for s in steps], "labels": [s["label"] != "wrong" for s in steps]}  # fmt: skip


def prm_rows(store: Store, items: list[dict], mixture: str) -> list[dict]:
    render = PromptRenderer(store)
    problems: dict[str, tuple[str, dict]] = {}
    rows = []
    for r in items:
        if r["problem_id"] not in problems:
            base = {
                "split": r["split"],
                "problem_id": r["problem_id"],
                "domain": r["domain"],
                "task": r["task"],
            }
            problems[r["problem_id"]] = (render.messages(r)[-1]["content"], base)
        prompt, base = problems[r["problem_id"]]
        rows.append(_prm_row(prompt, base, r["completion_id"], r["steps"]))
    for f in _dicts(store.con.execute(_FAILING_SQL, [mixture])):
        prompt, base = problems[f["problem_id"]]
        rows.append(_prm_row(prompt, base, f["completion_id"], f["steps"]))
    return [r for r in rows if r is not None]


def dpo_rows(store: Store, items: list[dict], mixture: str) -> list[dict]:
    render = PromptRenderer(store)
    failing: dict[str, list[dict]] = {}
    for f in _dicts(store.con.execute(_FAILING_SQL, [mixture])):
        failing.setdefault(f["problem_id"], []).append(f)
    used: dict[str, int] = {}  # a problem's k-th chosen is paired with its k-th failing (cycled)
    rows = []
    for r in items:
        losers = failing.get(r["problem_id"])
        if not losers:
            continue
        k = used.get(r["problem_id"], 0)
        used[r["problem_id"]] = k + 1
        loser = losers[k % len(losers)]
        rows.append({"split": r["split"], "prompt": render.messages(r),
                     "chosen": [{"role": "assistant", "content": assistant_text(r["text"] or "", r["reasoning"], False)}],
                     "rejected": [{"role": "assistant",
                                   "content": assistant_text(loser["text"], loser["reasoning"], False)}],
                     "problem_id": r["problem_id"], "domain": r["domain"], "task": r["task"],
                     "chosen_id": r["completion_id"], "rejected_id": loser["completion_id"]})  # fmt: skip
    return rows


def export_rows(
    store: Store, mixture: str, fmt: str, think_tags: bool = False, pass_rates: tuple = (None, None)
) -> list[dict]:
    """The rows of one format, each with its `split`."""
    check_format(fmt)
    found = store.con.execute("SELECT spec FROM mixtures WHERE name = ?", [mixture]).fetchall()
    if not found:
        names = [r[0] for r in store.con.execute("SELECT name FROM mixtures ORDER BY name").fetchall()]
        known = ", ".join(names) or "none; run `cotmill mix build SPEC` first"
        raise ExportError(f"no mixture named {mixture!r} (known: {known})")
    spec = json.loads(found[0][0])
    stale = store.con.execute(
        "SELECT count(*) FROM mixture_items mi WHERE mi.mixture = ? AND mi.completion_id NOT IN "
        f"(SELECT completion_id FROM {eligible_sql(spec.get('verified', True))})",
        [mixture],
    ).fetchall()[0][0]
    if stale:
        # a later curate or verify changed what is eligible: exporting the old choice
        # would ship contaminated, duplicate or failing rows
        raise ExportError(
            f"{stale} item(s) of mixture {mixture!r} are no longer eligible (marked by a later curate, or "
            "failing a later verify); rebuild it with `cotmill mix build SPEC`"
        )
    items = _dicts(store.con.execute(_ITEMS_SQL, [mixture]))
    return FORMATS.get(fmt)(store, items, ExportOptions(mixture, think_tags, tuple(pass_rates)))


# the built-in formats
register("sft", lambda store, items, o: sft_rows(store, items, o.think_tags))
register("rl", lambda store, items, o: rl_rows(store, items, o.pass_rates))
register("prm", lambda store, items, o: prm_rows(store, items, o.mixture))
register("dpo", lambda store, items, o: dpo_rows(store, items, o.mixture))


def why_empty(store: Store, mixture: str, fmt: str, pass_rates: tuple = (None, None)) -> str:
    """Why mixture `mixture` gives no `fmt` rows, and what to change."""
    head = f"mixture {mixture!r} gives no {fmt} rows"
    if fmt == "rl":
        counts = store.con.execute(
            "SELECT count(DISTINCT mi.problem_id), count(DISTINCT mi.problem_id) FILTER (d.pass_rate >= 1), "
            "count(DISTINCT mi.problem_id) FILTER (d.pass_rate <= 0) FROM mixture_items mi "
            "LEFT JOIN difficulty d USING (problem_id) WHERE mi.mixture = ?",
            [mixture],
        ).fetchall()[0]
        low, high = pass_rates
        if (low, high) != (None, None):
            bounds = f"{'> 0' if low is None else f'>= {low}'} and {'< 1' if high is None else f'<= {high}'}"
            return f"{head}: none of its {counts[0]} problems has a pass rate {bounds}"
        return (
            f"{head}: of its {counts[0]} problems, {counts[1]} have pass rate 1 and {counts[2]} pass rate 0, "
            "and a group whose samples all pass or all fail gives GRPO no signal. Generate more samples "
            "per problem (--samples), harder problems (--difficulty), or with the builtin teacher "
            "--error-rate above 0; or take them anyway with --min-pass-rate 0 --max-pass-rate 1"
        )
    if fmt == "dpo":
        return (
            f"{head}: no problem of it has a failing completion to pair with its passing one. Generate "
            "more samples per problem (--samples), harder problems, or with the builtin teacher "
            "--error-rate above 0, then verify and rebuild the mixture"
        )
    if fmt == "prm":
        return f"{head}: only math verdicts carry step labels, and none of its completions has them"
    return f"{head}: it has no items"


def export_mixture(
    workspace,
    mixture: str,
    fmt: str,
    out,
    writer: str,
    think_tags: bool = False,
    pass_rates: tuple = (None, None),
    overwrite: bool = False,
):
    """Export and write into `out`, which the export owns (see mixtures.export_dir): a used
    directory is refused unless `overwrite`, then replaced whole. Returns (split -> row count,
    split -> path)."""
    check_out(out, overwrite)  # before the rows are built: a refusal should not wait for them
    with Store.open(workspace, read_only=True) as store:
        rows = export_rows(store, mixture, fmt, think_tags, pass_rates)
        if not rows:  # an empty directory would only fail later, in the trainer, without the why
            raise ExportError(why_empty(store, mixture, fmt, pass_rates))
    options = {"think_tags": think_tags} if fmt == "sft" else {}
    if fmt == "rl":
        options = {"min_pass_rate": pass_rates[0], "max_pass_rate": pass_rates[1]}
    fields = {"mixture": mixture, "format": fmt, "workspace": str(resolve_workspace(workspace).resolve()),
              "options": options}  # fmt: skip
    counts, paths, _ = write_export(rows, out, writer, fields, overwrite)
    return counts, paths
