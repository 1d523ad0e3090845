"""The workspace schema and its forward migrations.

Each migration is a list of SQL statements; the workspace records the number of
migrations applied in `schema_version`. Opening a workspace for writing applies
the missing ones in one transaction, so a crash mid-migration leaves the old
version intact. Columns named in DESIGN.md are a contract: add, never rename.
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

SCHEMA_VERSION = len(MIGRATIONS)
