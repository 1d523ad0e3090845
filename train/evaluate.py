"""Evaluation: pass@1, pass@k and maj@k of a model on an export's problems, judged by the verifiers.

K samples per problem (greedy when K == 1 and no temperature is given, else temperature 0.7):
- pass@1: mean over problems of c/K (c = passing samples), the unbiased pass@1 estimate.
- pass@k, k = K: the unbiased estimator of Chen et al. 2021, 1 - C(n-c, k) / C(n, k) with n = K
  samples; at k = n it is 1 exactly when some sample passes.
- maj@k: self-consistency. `verifiers.vote` clusters the K answers by equivalence; the voted answer is
  the majority cluster's first member, so its verdict says whether the vote is right (no extra
  verifier call). Code has no final answer to vote on (vote_texts gives none), so code problems get
  no maj@k and are left out of its totals.
A sample passes when its verifier score is 1.0: the code verifier gives partial credit, and only all
tests passing counts. Every metric is a mean over problems per (domain, task), per domain (task
'all') and overall ('all', 'all'); stored in `evals` (metric 'pass@1' with k 1, 'pass@k' and 'maj@k'
with k = K; n = problems averaged) with a `runs` row of kind "eval".

Input rows are rl export rows (prompt messages, reference, verifier, meta). sft rows carry only the
messages and problem_id, so their reference, verifier and meta come from the workspace that exported
them (one problem per problem_id; the assistant turn is dropped from the prompt).
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from math import comb, sqrt
from pathlib import Path

from verifiers.errors import CotmillError

PROBLEM_FIELDS = ("reference", "verifier", "domain", "task", "meta")


class EvalError(CotmillError, ValueError):
    """Bad eval input: a missing split, rows of an unknown format, problems the workspace lacks."""


@dataclass
class ProblemResult:
    problem_id: str
    domain: str
    task: str
    texts: list[str]
    scores: list[float]  # verifier score per sample
    truncated: list[bool]
    voted: str | None = None  # the majority answer (None: no sample had one)
    maj: bool | None = None  # is the voted answer right? None where nothing can be voted (code)

    @property
    def passed(self) -> list[bool]:
        return [s >= 1.0 for s in self.scores]


@dataclass
class Score:
    """One `evals` row: a metric over `n` problems of a (domain, task) group."""

    domain: str
    task: str
    metric: str  # "pass@1", "pass@k" or "maj@k"; k says which k
    k: int
    value: float
    n: int

    @property
    def label(self) -> str:  # "pass@4"
        return self.metric.replace("@k", f"@{self.k}")


@dataclass
class EvalResult:
    samples: int
    temperature: float
    problems: list[ProblemResult]
    scores: list[Score]
    model: str = ""
    data: str = ""
    split: str = ""
    run: str | None = None  # the `runs` id, once stored
    config: dict = field(default_factory=dict)

    def value(self, metric: str, domain: str = "all", task: str = "all") -> float | None:
        for s in self.scores:
            if (s.metric, s.domain, s.task) == (metric, domain, task):
                return s.value
        return None


def pass_at_k(n: int, c: int, k: int) -> float:
    """Chance that at least one of k samples drawn without replacement from n (c correct) passes."""
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"pass@k needs 0 <= c <= n and 1 <= k <= n, got n={n} c={c} k={k}")
    if n - c < k:
        return 1.0
    return 1.0 - comb(n - c, k) / comb(n, k)


def metric_names(samples: int) -> list[str]:
    # with one sample pass@k and maj@k equal pass@1, so they are not repeated
    return ["pass@1"] if samples == 1 else ["pass@1", "pass@k", "maj@k"]


def problem_metrics(p: ProblemResult, samples: int) -> dict[str, float]:
    n, c = len(p.scores), sum(p.passed)
    values = {"pass@1": c / n}
    if samples > 1:
        values["pass@k"] = pass_at_k(n, c, samples)
        if p.maj is not None:
            values["maj@k"] = float(p.maj)
    return values


def paired_delta(a: EvalResult, b: EvalResult, metric: str, domain: str = "all",
                 task: str = "all") -> tuple[float, float] | None:  # fmt: skip
    """B minus A on one metric over the problems both evaluated: the mean per-problem
    difference and the half-width of its 95% interval (normal approximation). Pairing by
    problem cancels how hard each problem is, so the interval is far tighter than two
    independent ones; None below two shared problems."""

    def per_problem(r: EvalResult) -> dict[str, float]:
        values = {}
        for p in r.problems:
            if domain in ("all", p.domain) and task in ("all", p.task):
                value = problem_metrics(p, r.samples).get(metric)
                if value is not None:
                    values[p.problem_id] = value
        return values

    va, vb = per_problem(a), per_problem(b)
    return mean_ci95([vb[pid] - va[pid] for pid in va if pid in vb])


def mean_ci95(diffs: list[float]) -> tuple[float, float] | None:
    """The mean of paired differences and the half-width of its 95% interval (normal
    approximation); None below two differences."""
    n = len(diffs)
    if n < 2:
        return None
    mean = sum(diffs) / n
    variance = sum((d - mean) ** 2 for d in diffs) / (n - 1)
    return mean, 1.96 * sqrt(variance / n)


def summarize(problems: list[ProblemResult], samples: int) -> list[Score]:
    """Means over problems per (domain, task), (domain, 'all') and ('all', 'all'), in a stable order."""
    groups: dict[tuple[str, str], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for p in problems:
        for metric, value in problem_metrics(p, samples).items():
            for key in (("all", "all"), (p.domain, "all"), (p.domain, p.task)):
                groups[key][metric].append(value)
    order = metric_names(samples)
    scores = []
    for (domain, task), metrics in sorted(groups.items(), key=lambda kv: (kv[0] != ("all", "all"), kv[0])):
        for metric in order:
            values = metrics.get(metric)
            if values:
                k = 1 if metric == "pass@1" else samples
                scores.append(Score(domain, task, metric, k, sum(values) / len(values), len(values)))
    return scores


def vote_answer(p: ProblemResult) -> None:
    """Set p.voted and p.maj from the majority answer of the samples (see the module doc)."""
    from verifiers.vote import vote_texts

    if p.domain == "code":
        return
    result = vote_texts(p.texts, p.domain)
    p.voted = result.answer
    p.maj = result.answer is not None and p.passed[result.members[0]]


def evaluate(model, tokenizer, rows: list[dict], *, samples: int = 1, max_new_tokens: int = 256,
             temperature: float | None = None, batch_size: int = 16, seed: int = 0) -> EvalResult:  # fmt: skip
    """Sample `samples` completions per row, judge them, and score. Rows: see `problem_rows`
    (rl export rows are already in that form)."""
    import torch

    from train.data import encode_prompt
    from train.rewards import verifier_reward
    from train.rollout import generate

    if samples < 1:
        raise EvalError(f"samples must be >= 1, got {samples}")
    if not rows:
        raise EvalError("no problems to evaluate")
    if temperature is None:
        temperature = 0.0 if samples == 1 else 0.7
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    prompts = [encode_prompt(row["prompt"], tokenizer) for row in rows]
    # prompts of similar length share a batch, so little of each batch is padding
    order = sorted(range(len(rows)), key=lambda i: len(prompts[i]))
    rows = [rows[i] for i in order]
    out = generate(model, tokenizer, [prompts[i] for i in order], n=samples, max_new_tokens=max_new_tokens,
                   temperature=temperature, generator=generator, batch_size=batch_size)  # fmt: skip
    judged_rows = [row for row in rows for _ in range(samples)]  # matches generate's row order
    # threads: the code sandbox waits on processes, and math's sympy path has its own time limit
    with ThreadPoolExecutor(max_workers=min(8, len(judged_rows)), thread_name_prefix="eval-verify") as pool:
        all_scores = list(pool.map(verifier_reward, judged_rows, out.texts))
    problems: list[ProblemResult | None] = [None] * len(rows)
    for i, row in enumerate(rows):
        part = slice(i * samples, (i + 1) * samples)
        p = ProblemResult(row["problem_id"], row["domain"], row["task"], out.texts[part], all_scores[part],
                          out.truncated[part])  # fmt: skip
        if samples > 1:
            vote_answer(p)
        problems[order[i]] = p  # back in input order
    return EvalResult(samples, temperature, problems, summarize(problems, samples))


# --- input rows --------------------------------------------------------------------------------


def _prompt(row: dict, where: str) -> list[dict]:
    if isinstance(row.get("prompt"), list):
        return list(row["prompt"])
    messages = row.get("messages")
    if isinstance(messages, list) and messages:
        return list(messages[:-1]) if messages[-1].get("role") == "assistant" else list(messages)
    raise EvalError(f"{where}: rows need `prompt` messages (rl export) or `messages` (sft export)")


def problem_rows(
    rows: list[dict], workspace=None, where: str = "data", limit: int | None = None
) -> list[dict]:
    """Export rows -> the first `limit` problems (first occurrence of each problem_id) with prompt,
    reference, verifier, domain, task, meta (JSON text) and problem_id. Rows without the problem's
    fields are completed from the workspace's `problems` table."""
    out, seen = [], set()
    for i, row in enumerate(rows):
        pid = row.get("problem_id")
        if not pid:
            raise EvalError(f"{where}: row {i} has no problem_id")
        if pid in seen:
            continue
        if limit and len(out) == limit:
            break
        seen.add(pid)
        out.append({**row, "prompt": _prompt(row, where), "problem_id": pid})
    missing = [r for r in out if any(f not in r for f in PROBLEM_FIELDS)]
    if missing:
        _fill_from_workspace(missing, workspace, where)
    return out


def _fill_from_workspace(rows: list[dict], workspace, where: str) -> None:
    from datagen.store import Store, WorkspaceError

    try:
        store = Store.open(workspace, read_only=True)
    except WorkspaceError as e:
        raise EvalError(
            f"{where}: the rows (an sft export?) carry no reference or verifier, so they are looked up "
            f"in the workspace that exported them, but: {e}; give --workspace"
        ) from None
    with store:
        found = store.con.execute(
            "SELECT problem_id, answer, verifier, domain, task, meta FROM problems "
            "WHERE problem_id IN (SELECT unnest(?))",
            [[r["problem_id"] for r in rows]],
        ).fetchall()
    by_id = {
        pid: (answer, verifier, domain, task, meta) for pid, answer, verifier, domain, task, meta in found
    }
    lost = [r["problem_id"] for r in rows if r["problem_id"] not in by_id]
    if lost:
        raise EvalError(
            f"{where}: {len(lost)} problem(s) are not in workspace {store.root} (e.g. {lost[0]}); "
            "give the --workspace that exported the data"
        )
    for r in rows:
        answer, verifier, domain, task, meta = by_id[r["problem_id"]]
        meta = meta if isinstance(meta, str) else json.dumps(meta or {})
        r.update(reference=answer, verifier=verifier, domain=domain, task=task, meta=meta)


def load_rows(data, split: str = "val", limit: int | None = None, workspace=None) -> list[dict]:
    from train.data import check_export, read_export

    check_export(data, ("rl", "sft"), "eval")
    raw = read_export(data, split)
    if not raw:
        hint = "; evaluate on --split train" if split == "val" else ""
        raise EvalError(f"{data}: no {split} rows{hint}")
    return problem_rows(raw, workspace, where=str(data), limit=limit)


# --- the whole run: load, evaluate, store ----------------------------------------------------


def run_eval(model_path, data, *, split: str = "val", samples: int = 1, limit: int | None = None,
             max_new_tokens: int = 256, temperature: float | None = None, batch_size: int = 16, seed: int = 0,
             workspace=None, run: str | None = None, out=None, store: bool = True,
             precision: str = "auto") -> EvalResult:  # fmt: skip
    """Evaluate the model at `model_path` (a model or adapter dir) on an export split; store a `runs`
    row (kind "eval") and its `evals` rows unless store is False; per-problem results to `out` (JSONL).
    `precision`: auto (bf16 on a GPU, fp32 on a CPU), bf16 or fp32."""
    from train.model import load_model

    started = dt.datetime.now()
    rows = load_rows(data, split, limit, workspace)
    model, tokenizer = load_model(model_path, trainable=False, precision=precision)
    result = evaluate(model, tokenizer, rows, samples=samples, max_new_tokens=max_new_tokens,
                      temperature=temperature, batch_size=batch_size, seed=seed)  # fmt: skip
    result.model, result.data, result.split = str(model_path), str(data), split
    result.config = {"samples": samples, "limit": limit, "max_new_tokens": max_new_tokens, "precision": precision,
                     "temperature": result.temperature, "batch_size": batch_size, "seed": seed}  # fmt: skip
    if out:
        write_problems(result, out)
    if store:
        result.run = run or f"eval-{_model_label(model_path)}-{started:%Y%m%d-%H%M%S}"
        store_eval(workspace, result, started, out)
    return result


def _model_label(model_path) -> str:
    path = Path(model_path).resolve()
    # a training run's outputs are out/final, out/merged, out/checkpoint-N: the run's name says more
    generic = path.name in ("final", "merged") or path.name.startswith("checkpoint-")
    return f"{path.parent.name}-{path.name}" if generic else path.name


def write_problems(result: EvalResult, out) -> Path:
    """One JSON line per problem: ids, the samples, their scores, the vote."""
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        for p in result.problems:
            f.write(json.dumps({
                "model": result.model, "problem_id": p.problem_id, "domain": p.domain, "task": p.task,
                "scores": p.scores, "passed": p.passed, "truncated": p.truncated, "voted": p.voted,
                "maj": p.maj, "metrics": problem_metrics(p, result.samples), "texts": p.texts,
            }, ensure_ascii=False) + "\n")  # fmt: skip
    return path


def store_eval(workspace, result: EvalResult, started: dt.datetime, out=None) -> None:
    """Replace the run's `runs` row and `evals` rows in one transaction (the lock is held only here)."""
    from datagen.store import Store
    from train.environment import environment

    now = dt.datetime.now()
    summary = {s.label: s.value for s in result.scores if (s.domain, s.task) == ("all", "all")}
    run_row = {"run": result.run, "kind": "eval", "model": result.model, "data": result.data,
               "out": str(out or ""), "config": json.dumps({**result.config, "split": result.split}),
               "status": "finished", "summary": json.dumps(summary), "started_at": started,
               "finished_at": now, "env": json.dumps(environment(), sort_keys=True)}  # fmt: skip
    eval_rows = [{"run": result.run, "model": result.model, "data": result.data, "split": result.split,
                  "domain": s.domain, "task": s.task, "metric": s.metric, "k": s.k, "value": s.value,
                  "n": s.n, "created_at": now} for s in result.scores]  # fmt: skip
    with Store.open(workspace) as store:
        with store.transaction():
            store.con.execute("DELETE FROM evals WHERE run = ?", [result.run])
            store.insert_rows("runs", [run_row], "REPLACE")
            store.insert_rows("evals", eval_rows, "APPEND")
