"""`cotmill curate` as a Python API: mark duplicates, contaminated problems and poor
completions in `curation_marks`, and measure difficulty.

Nothing is deleted: a mark names the item, the reason and a detail (the kept
representative, the benchmark item, the measured value), and the `curated` view
leaves marked items out. A re-run deletes the marks of the reasons it recomputes
and writes them afresh in one transaction, so the result depends only on the data
and the options. Reasons whose option is off in a run (contaminated without
`decontaminate`, length without bounds, format without `require_think`) keep their
earlier marks: leaving out a flag must not silently un-contaminate a workspace.

Decisions:
- Problems are deduplicated globally (the same question from two tasks or files is
  one question). Completions only within their problem: the same text answering
  two different problems is two different training examples.
- Representatives: problems in order of created_at, then problem_id; completions
  prefer one without any other mark (so a clean sample is never dropped in favour
  of a failing near-copy, which a planted slip is), then created_at, completion_id.
- Near-dup runs over the exact representatives only, so each item gets one dup reason.
- Besides the filters of `mixtures.filters`, completions whose latest verdict by their
  problem's verifier failed get `failed_verification`, and those without one
  `unverified`, so every completion missing from `curated` has a reason (errored ones
  carry theirs in `completions.error`).
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from datagen.store import Store, in_job
from mixtures.decontam import contaminated
from mixtures.dedup import exact_representatives, near_representatives, normalise
from mixtures.defaults import NEAR_DUP_THRESHOLD, NGRAM, SHINGLE
from mixtures.difficulty import LATEST_VERDICTS, update_difficulty
from mixtures.filters import FilterConfig, make_filters
from verifiers.errors import CotmillError

DUP_REASONS = ("exact_dup", "near_dup")


@dataclass
class CurateStats:
    problems: int = 0
    completions: int = 0
    marks: Counter = field(default_factory=Counter)  # (kind, reason) -> items marked
    rated: int = 0  # problems with a measured difficulty
    curated: int = 0  # rows of the `curated` view afterwards
    nodes: set[str] = field(default_factory=set)  # executor ray: the Ray nodes that signed
    started: float = field(default_factory=time.monotonic)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started


def dup_marks(kind, ids, texts, threshold, shingle, groups=None, near_groups=None, signed=None) -> list[dict]:
    """Marks for exact and near duplicates of documents given in representative order;
    only documents of one group are duplicates (`near_groups`: of one group for near-dups).
    `signed`: every document's normalised text and MinHash signature, when computed
    elsewhere (Ray tasks: mixtures.ray_curate)."""
    keys, sig = signed or (None, None)
    marks = []
    exact = exact_representatives(texts, groups, keys)
    for i in np.flatnonzero(exact != np.arange(len(ids))):
        marks.append(_mark(kind, ids[i], "exact_dup", ids[exact[i]]))
    unique = np.flatnonzero(exact == np.arange(len(ids)))
    near_groups = groups if near_groups is None else near_groups
    sub_groups = None if near_groups is None else np.asarray(near_groups)[unique]
    near = near_representatives([texts[i] for i in unique], threshold, shingle, groups=sub_groups,
                                sig=None if sig is None else sig[unique])  # fmt: skip
    for local in np.flatnonzero(near != np.arange(len(unique))):
        marks.append(_mark(kind, ids[unique[local]], "near_dup", ids[unique[near[local]]]))
    return marks


def _mark(kind: str, item_id: str, reason: str, detail: str | None) -> dict:
    return {"kind": kind, "item_id": item_id, "reason": reason, "detail": detail}


def _problems(store: Store) -> list[tuple]:
    return store.con.execute(
        "SELECT problem_id, prompt, answer FROM problems ORDER BY created_at, problem_id"
    ).fetchall()


def problem_marks(rows, decontaminate, ngram, text_field, threshold, shingle, remote=None) -> list[dict]:
    """`remote`: normalised texts, signatures and contamination computed by Ray tasks
    (mixtures.ray_curate)."""
    ids, prompts = [r[0] for r in rows], [r[1] for r in rows]
    # procedural tasks write distinct problems from one template that differ in a few
    # words (knights and knaves reach Jaccard 0.9) but have different answers: a near
    # copy is a duplicate only when its reference answer is the same (or both have none)
    answers: dict[str, int] = {}
    by_answer = np.array(
        [answers.setdefault(normalise(r[2]) if r[2] is not None else "\0none", len(answers)) for r in rows],
        np.int64,
    )
    signed = remote.signed("problem", ids) if remote else None
    marks = dup_marks("problem", ids, prompts, threshold, shingle, near_groups=by_answer, signed=signed)
    if decontaminate:
        if remote:
            hits = remote.contaminated(ids)
        else:
            hits = contaminated([(r[0], r[1]) for r in rows], decontaminate, ngram, text_field)
        marks += [_mark("problem", pid, "contaminated", label) for pid, label in hits]
    return marks


def _completions(store: Store, job: str | None) -> list[dict]:
    cursor = store.con.execute(
        f"""SELECT c.completion_id, c.problem_id, c.text, c.finish_reason, c.completion_tokens, p.domain, p.verifier,
                   l.passed
            FROM completions c JOIN problems p USING (problem_id)
            LEFT JOIN ({LATEST_VERDICTS}) l USING (completion_id)
            WHERE c.error IS NULL AND {in_job() if job else "TRUE"}
            ORDER BY c.created_at, c.completion_id""",
        [job] if job else [],
    )
    columns = [d[0] for d in cursor.description]
    return [dict(zip(columns, r)) for r in cursor.fetchall()]


def completion_marks(
    rows: list[dict], cfg: FilterConfig, threshold, shingle, remote=None
) -> tuple[list, list]:
    """(marks, the reasons recomputed) for `rows` (as _completions reads them; reordered)."""
    filters = make_filters(cfg)
    marks = []
    for row in rows:
        for reason, check in filters.items():
            detail = check(row)
            if detail is not None:
                marks.append(_mark("completion", row["completion_id"], reason, detail))
        if row["passed"] is False:
            marks.append(_mark("completion", row["completion_id"], "failed_verification", None))
        elif row["passed"] is None:
            marks.append(_mark("completion", row["completion_id"], "unverified", None))
    marked = {m["item_id"] for m in marks}
    rows.sort(key=lambda r: r["completion_id"] in marked)  # stable: clean ones first, then by time
    problem_index: dict[str, int] = {}
    groups = np.array([problem_index.setdefault(r["problem_id"], len(problem_index)) for r in rows], np.int64)
    ids, texts = [r["completion_id"] for r in rows], [r["text"] for r in rows]
    signed = remote.signed("completion", ids) if remote else None
    marks += dup_marks("completion", ids, texts, threshold, shingle, groups, signed=signed)
    reasons = [*filters, "failed_verification", "unverified", *DUP_REASONS]
    return marks, reasons


def replace_marks(store: Store, marks: list[dict], problem_reasons, completion_reasons, job) -> None:
    """Delete the marks of the recomputed reasons (of this job's completions only, when
    a job is named) and insert the new ones, all or nothing."""
    con = store.con
    with store.transaction():
        con.execute(
            "DELETE FROM curation_marks WHERE kind = 'problem' AND list_contains(?, reason)",
            [problem_reasons],
        )
        scope = "item_id IN (SELECT completion_id FROM completions WHERE job = ?)" if job else "TRUE"
        con.execute(
            f"DELETE FROM curation_marks WHERE kind = 'completion' AND list_contains(?, reason) AND {scope}",
            [completion_reasons, *([job] if job else [])],
        )
        store.insert_rows("curation_marks", marks, mode="REPLACE")


class CurateError(CotmillError, ValueError):
    """A curation setting out of its range."""


def run_curate(
    workspace=None,
    *,
    job: str | None = None,
    decontaminate: Sequence[str] = (),
    text_field: str | None = None,
    ngram: int = NGRAM,
    near_dup_threshold: float = NEAR_DUP_THRESHOLD,
    shingle: int = SHINGLE,
    filters: FilterConfig | None = None,
    executor: str = "local",
    ray_address: str | None = None,
    shard_rows: int | None = None,
) -> CurateStats:
    """Mark problems and completions and rate difficulty; see the module docstring.
    `executor` "ray": normalising, MinHash signing and benchmark matching run as Ray tasks
    (mixtures.ray_curate), on the cluster at `ray_address`, `shard_rows` items per task;
    the marks are the local executor's."""
    if not 0 < near_dup_threshold <= 1:
        raise CurateError(f"near-dup threshold must lie in (0, 1], got {near_dup_threshold}")
    if shingle < 1:
        raise CurateError(f"shingle must be at least 1 word, got {shingle}")
    if ngram < 1:
        raise CurateError(f"--ngram must be at least 1, got {ngram}")
    if executor not in ("local", "ray"):
        raise CurateError(f"unknown executor {executor!r}; use local or ray")
    if executor == "ray":
        from datagen.ray_exec import require_ray

        require_ray()  # before any work: a missing Ray is the one thing to say
    cfg = filters or FilterConfig()
    stats = CurateStats()
    with Store.open(workspace, create=False) as store:
        problems, completions = _problems(store), _completions(store, job)
        stats.problems, stats.completions = len(problems), len(completions)
        with contextlib.ExitStack() as stack:
            remote = None
            if executor == "ray":  # the tasks start now: the driver filters completions meanwhile
                from mixtures.ray_curate import Remote

                remote = stack.enter_context(Remote(store.root, job, ray_address, shard_rows, shingle))
                remote.submit("problem", [r[0] for r in problems], [r[1] for r in problems],
                              benchmarks=list(decontaminate), ngram=ngram, text_field=text_field)  # fmt: skip
                remote.submit("completion", [r["completion_id"] for r in completions],
                              [r["text"] for r in completions])  # fmt: skip
            p_marks = problem_marks(problems, list(decontaminate), ngram, text_field, near_dup_threshold, shingle,
                                    remote)  # fmt: skip
            c_marks, c_reasons = completion_marks(completions, cfg, near_dup_threshold, shingle, remote)
            stats.nodes = remote.nodes if remote else set()
        p_reasons = [*DUP_REASONS, *(["contaminated"] if decontaminate else [])]
        replace_marks(store, p_marks + c_marks, p_reasons, c_reasons, job)
        stats.marks.update((m["kind"], m["reason"]) for m in p_marks + c_marks)
        stats.rated = update_difficulty(store)
        stats.curated = store.con.execute("SELECT count(*) FROM curated").fetchall()[0][0]
    return stats
