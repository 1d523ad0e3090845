"""Pseudo-labels for problems without a reference: the majority answer of their
samples (self-consistency), clustered by answer equivalence.

Each voted problem gets a row in `pseudo_labels`, and each of its completions a
verdict from the verifier named `vote`: passed when its answer is in the majority
cluster. A problem with one sample, where no sample has an answer, or where the two
largest clusters tie, gets no label.
"""

from __future__ import annotations

import json

from datagen.store import Store, in_job

VOTER = "vote"


def _unlabelled(store: Store, job: str | None) -> list[tuple]:
    sql = """
        SELECT p.problem_id, p.domain, list(c.completion_id ORDER BY c.sample_index),
               list(coalesce(c.text, '') ORDER BY c.sample_index)
        FROM problems p JOIN completions c USING (problem_id)
        WHERE p.answer IS NULL AND c.error IS NULL {job}
        GROUP BY p.problem_id, p.domain
        HAVING count(*) >= 2
    """.format(job="AND " + in_job() if job else "")
    return store.con.execute(sql, [job] if job else []).fetchall()


def vote_unlabelled(store: Store, job: str | None = None) -> int:
    from verifiers import vote as voting

    labels, verdicts = [], []
    for problem_id, domain, ids, texts in _unlabelled(store, job):
        result = voting.vote_texts(texts, domain)
        tied = len(result.clusters) > 1 and len(result.clusters[0]) == len(result.clusters[1])
        if result.answer is None or tied:
            continue  # no majority, no label
        method = f"{VOTER}:{domain}"
        labels.append({
            "problem_id": problem_id, "method": method, "answer": result.answer,
            "agreement": result.agreement, "samples": len(texts), "members": json.dumps(result.members),
        })  # fmt: skip
        reason = (
            f"majority answer {result.answer!r}, agreement {result.agreement:.0%} of {len(texts)} samples"
        )
        for index, cid in enumerate(ids):
            inside = index in result.members
            verdicts.append({
                "completion_id": cid, "verifier": VOTER, "verifier_version": voting.VERSION,
                "passed": inside, "score": 1.0 if inside else 0.0, "extracted": result.answers[index],
                "reason": reason, "steps": None, "first_error_step": None, "elapsed_ms": 0.0,
            })  # fmt: skip
    store.write_batch([("pseudo_labels", labels, "REPLACE"), ("verdicts", verdicts, "REPLACE")])
    return len(labels)
