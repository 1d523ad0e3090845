"""The workspace schema and its forward migrations.

Each migration is a list of SQL statements; the workspace records the number of
migrations applied in `schema_version`. Opening a workspace for writing applies
the missing ones in one transaction, so a crash mid-migration leaves the old
version intact. Columns are a contract (exports, the report and users' queries read them by name):
add, never rename.
"""

from __future__ import annotations

MIGRATIONS: list[list[str]] = [
    # 1: the foundation tables
    [
        """CREATE TABLE problems (
            problem_id VARCHAR PRIMARY KEY,
            domain VARCHAR NOT NULL,
            task VARCHAR NOT NULL,
            source VARCHAR NOT NULL,
            prompt VARCHAR NOT NULL,
            answer VARCHAR,
            verifier VARCHAR NOT NULL,
            difficulty INTEGER,
            meta JSON,
            created_at TIMESTAMP DEFAULT current_timestamp
        )""",
        """CREATE TABLE completions (
            completion_id VARCHAR PRIMARY KEY,
            problem_id VARCHAR NOT NULL,
            job VARCHAR NOT NULL,
            teacher VARCHAR NOT NULL,
            strategy VARCHAR NOT NULL,
            sample_index INTEGER NOT NULL,
            text VARCHAR,
            reasoning VARCHAR,
            finish_reason VARCHAR,
            prompt_tokens BIGINT,
            completion_tokens BIGINT,
            cost_usd DOUBLE,
            latency_ms DOUBLE,
            error VARCHAR,
            meta JSON,
            created_at TIMESTAMP DEFAULT current_timestamp
        )""",
        """CREATE TABLE verdicts (
            completion_id VARCHAR NOT NULL,
            verifier VARCHAR NOT NULL,
            verifier_version VARCHAR NOT NULL,
            passed BOOLEAN,
            score DOUBLE,
            extracted VARCHAR,
            reason VARCHAR,
            steps JSON,
            first_error_step INTEGER,
            elapsed_ms DOUBLE,
            created_at TIMESTAMP DEFAULT current_timestamp,
            PRIMARY KEY (completion_id, verifier, verifier_version)
        )""",
        """CREATE TABLE jobs (
            job VARCHAR PRIMARY KEY,
            teacher VARCHAR,
            config JSON,
            status VARCHAR,
            requested BIGINT,
            stored BIGINT,
            failed BIGINT,
            started_at TIMESTAMP,
            finished_at TIMESTAMP
        )""",
        """CREATE TABLE rejects (
            source VARCHAR NOT NULL,
            location VARCHAR NOT NULL,
            field VARCHAR,
            reason VARCHAR NOT NULL,
            raw VARCHAR,
            job VARCHAR,
            created_at TIMESTAMP DEFAULT current_timestamp
        )""",
    ],
]

MIGRATIONS.append(
    # 2: pseudo-labels from self-consistency voting, for problems without a reference
    [
        """CREATE TABLE pseudo_labels (
            problem_id VARCHAR NOT NULL,
            method VARCHAR NOT NULL,
            answer VARCHAR,
            agreement DOUBLE,
            samples INTEGER,
            members JSON,
            created_at TIMESTAMP DEFAULT current_timestamp,
            PRIMARY KEY (problem_id, method)
        )""",
    ]
)

MIGRATIONS.append(
    # 3: curation marks, measured difficulty, mixtures, and the `curated` view
    [
        """CREATE TABLE curation_marks (
            kind VARCHAR NOT NULL,      -- 'problem' or 'completion'
            item_id VARCHAR NOT NULL,   -- its problem_id or completion_id
            reason VARCHAR NOT NULL,    -- exact_dup, near_dup, contaminated, truncated, no_answer, ...
            detail VARCHAR,             -- e.g. the kept representative, the benchmark item
            created_at TIMESTAMP DEFAULT current_timestamp,
            PRIMARY KEY (kind, item_id, reason)
        )""",
        """CREATE TABLE difficulty (
            problem_id VARCHAR PRIMARY KEY,
            samples INTEGER,
            passed INTEGER,
            pass_rate DOUBLE,
            bucket VARCHAR,
            updated_at TIMESTAMP DEFAULT current_timestamp
        )""",
        """CREATE TABLE mixtures (
            name VARCHAR PRIMARY KEY,
            spec JSON,
            plan JSON,
            seed INTEGER,
            total INTEGER,
            tokens BIGINT,
            created_at TIMESTAMP DEFAULT current_timestamp
        )""",
        """CREATE TABLE mixture_items (
            mixture VARCHAR NOT NULL,
            completion_id VARCHAR NOT NULL,
            problem_id VARCHAR,
            domain VARCHAR,
            bucket VARCHAR,
            split VARCHAR,
            position INTEGER,
            repeat INTEGER DEFAULT 0,
            tokens BIGINT,
            PRIMARY KEY (mixture, completion_id, repeat)
        )""",
        # what is eligible for mixing: a completion whose latest verdict by its problem's
        # own verifier passed, with neither it nor its problem marked by curation
        """CREATE VIEW curated AS
        WITH latest AS (
            SELECT v.*, row_number() OVER (
                PARTITION BY v.completion_id, v.verifier ORDER BY v.created_at DESC, v.verifier_version DESC
            ) AS rn
            FROM verdicts v
        )
        SELECT c.completion_id, c.problem_id, c.job, c.teacher, c.strategy, c.sample_index, c.text,
               c.reasoning, c.finish_reason, c.prompt_tokens, c.completion_tokens,
               p.domain, p.task, p.source, p.prompt, p.answer, p.verifier, p.difficulty,
               d.pass_rate, d.bucket AS difficulty_bucket, l.steps, l.first_error_step
        FROM completions c
        JOIN problems p USING (problem_id)
        JOIN latest l ON l.completion_id = c.completion_id AND l.verifier = p.verifier AND l.rn = 1 AND l.passed
        LEFT JOIN difficulty d USING (problem_id)
        WHERE c.error IS NULL
          AND NOT EXISTS (SELECT 1 FROM curation_marks m WHERE m.kind = 'completion' AND m.item_id = c.completion_id)
          AND NOT EXISTS (SELECT 1 FROM curation_marks m WHERE m.kind = 'problem' AND m.item_id = c.problem_id)""",
    ]
)

MIGRATIONS.append(
    # 4: stages of `cotmill run` that finished, by the fingerprint of their settings
    [
        # one row per stage: the settings it last finished with
        """CREATE TABLE pipeline_stages (
            stage VARCHAR PRIMARY KEY,
            fingerprint VARCHAR NOT NULL,
            finished_at TIMESTAMP
        )""",
    ]
)

MIGRATIONS.append(
    # 5: training runs, their metrics, and evaluations
    [
        # one row per training or eval run; a resumed run keeps its id and row
        """CREATE TABLE runs (
            run VARCHAR PRIMARY KEY,
            kind VARCHAR,               -- sft, grpo, eval
            model VARCHAR,
            data VARCHAR,
            out VARCHAR,
            config JSON,
            status VARCHAR,             -- running, finished, failed, interrupted
            summary JSON,
            started_at TIMESTAMP,
            finished_at TIMESTAMP
        )""",
        # no key: a resumed run may log a step again, and the latest row wins in queries
        """CREATE TABLE metrics (
            run VARCHAR NOT NULL,
            step INTEGER NOT NULL,
            name VARCHAR NOT NULL,
            value DOUBLE,
            created_at TIMESTAMP DEFAULT current_timestamp
        )""",
        # domain and task are 'all' for totals
        """CREATE TABLE evals (
            run VARCHAR NOT NULL,
            model VARCHAR,
            data VARCHAR,
            split VARCHAR,
            domain VARCHAR,
            task VARCHAR,
            metric VARCHAR,             -- pass@1, pass@k, maj@k
            k INTEGER,
            value DOUBLE,
            n INTEGER,
            created_at TIMESTAMP DEFAULT current_timestamp
        )""",
    ]
)

MIGRATIONS.append(
    # 6: what each run ran on (threads, CPU, library versions, commit): figures of two
    # machines can only be compared when that is known
    ["ALTER TABLE runs ADD COLUMN env JSON"]
)

MIGRATIONS.append(
    # 7: every completion a job covers, stored by it or reused from another job's run over
    # the same requests (completion ids do not name the job; `completions.job` names only
    # the job that stored it). A store from before gets the link from completions.job.
    [
        """CREATE TABLE job_completions (
            job VARCHAR NOT NULL,
            completion_id VARCHAR NOT NULL,
            PRIMARY KEY (job, completion_id)
        )""",
        "INSERT INTO job_completions SELECT DISTINCT job, completion_id FROM completions",
    ]
)

SCHEMA_VERSION = len(MIGRATIONS)

# made before the migrations run; its rows say which of them have been applied
VERSION_TABLE = (
    "CREATE TABLE IF NOT EXISTS schema_version "
    "(version INTEGER, applied_at TIMESTAMP DEFAULT current_timestamp)"
)
