"""`cotmill generate --teacher hf:DIR` as a user runs it: a local tiny model writes completions
through the engine into the store, a re-run resumes, `cotmill verify` judges them, and a pipeline
file can name the same teacher."""

from __future__ import annotations

import json
import re

from tests.conftest import query, run_cli


def test_generate_with_a_local_model_resumes_and_verifies(tiny_model_dir, tmp_path):  # noqa: F811
    ws = tmp_path / "w"
    args = ["generate", "--workspace", str(ws), "--teacher", f"hf:{tiny_model_dir}", "--tasks", "arithmetic",
            "--count", "6", "--samples", "2", "--max-tokens", "16", "--job", "student"]  # fmt: skip
    first = run_cli(*args)
    assert first.returncode == 0, first.stderr
    rows = query(
        ws, "select teacher, finish_reason, prompt_tokens, completion_tokens, text, error from completions"
    )
    assert len(rows) == 12
    teachers = {r[0] for r in rows}
    assert len(teachers) == 1 and re.fullmatch(r"hf:model@[0-9a-f]{8}", teachers.pop())
    for _, finish, prompt_tokens, completion_tokens, text, error in rows:
        assert error is None and isinstance(text, str)
        assert finish in ("stop", "length") and prompt_tokens > 0 and 1 <= completion_tokens <= 16
    assert query(
        ws, "select count(distinct problem_id), min(sample_index), max(sample_index) from completions"
    ) == [(6, 0, 1)]
    assert query(ws, "select teacher, status from jobs") == [(rows[0][0], "done")]

    second = run_cli(*args)
    assert second.returncode == 0, second.stderr
    assert re.search(r"stored in this run\s*│\s*0 ", second.stdout)
    assert "Loading weights" not in second.stderr  # nothing to generate: the model is not even loaded
    assert query(ws, "select count(*) from completions") == [(12,)]

    verify = run_cli("verify", "--workspace", str(ws))
    assert verify.returncode == 0, verify.stderr
    assert query(ws, "select count(*), count(distinct verifier) from verdicts") == [(12, 1)]
    assert "arithmetic" in verify.stdout and "hf:model@" in verify.stdout


def test_a_missing_model_directory_is_a_clear_error(tmp_path):
    result = run_cli("generate", "--workspace", str(tmp_path / "w"), "--teacher", f"hf:{tmp_path / 'nope'}",
                     "--tasks", "arithmetic", "--count", "2")  # fmt: skip
    assert result.returncode != 0
    assert "no model directory" in result.stderr and "Traceback" not in result.stderr
    not_a_model = run_cli("generate", "--workspace", str(tmp_path / "w"), "--teacher", f"hf:{tmp_path}",
                          "--tasks", "arithmetic", "--count", "2")  # fmt: skip
    assert not_a_model.returncode != 0
    assert "not a model directory" in not_a_model.stderr and "Traceback" not in not_a_model.stderr


def test_pipeline_generate_stage_takes_an_hf_teacher(tiny_model_dir, tmp_path):  # noqa: F811
    from cotmill.pipeline import run_pipeline

    pipeline = tmp_path / "p.yaml"
    pipeline.write_text(
        f"workspace: {tmp_path / 'w'}\n"
        f"generate: {{job: p, teacher: 'hf:{tiny_model_dir}', tasks: arithmetic, count: 3, max_tokens: 8}}\n"
        "verify: {}\n"
    )
    said = []
    run_pipeline(pipeline, say=said.append)
    assert said[0].startswith("generate: 3 completions stored (3 new)"), said
    assert query(tmp_path / "w", "select count(*) from completions where teacher like 'hf:model@%'") == [(3,)]


def test_bf16_precision_samples_and_evaluates(tiny_model_dir, workspace_exports, tmp_path):  # noqa: F811
    # bf16 weights on a CPU (several times faster where it has AVX512-BF16 or AMX): same flow
    ws = tmp_path / "w"
    result = run_cli("generate", "--workspace", str(ws), "--teacher", f"hf:{tiny_model_dir}", "--tasks", "arithmetic",
                     "--count", "4", "--samples", "2", "--max-tokens", "12", "--precision", "bf16")  # fmt: skip
    assert result.returncode == 0, result.stderr
    rows = query(ws, "select text, completion_tokens from completions")
    assert len(rows) == 8 and all(isinstance(t, str) and 1 <= n <= 12 for t, n in rows)
    result = run_cli("eval", "--model", str(tiny_model_dir), "--data", str(workspace_exports.rl), "--limit", "4",
                     "--max-new-tokens", "8", "--workspace", str(ws), "--run", "bf16", "--precision", "bf16")  # fmt: skip
    assert result.returncode == 0, result.stderr
    config = json.loads(query(ws, "select config from runs where run = 'bf16'")[0][0])
    assert config["precision"] == "bf16"
    bad = run_cli("generate", "--workspace", str(ws), "--teacher", f"hf:{tiny_model_dir}", "--tasks", "arithmetic",
                  "--precision", "fp16")  # fmt: skip
    assert bad.returncode == 2 and "'fp16' is not one of 'auto', 'bf16', 'fp32'" in bad.stderr


def test_hf_default_max_tokens_is_short_unless_given(tiny_model_dir):  # noqa: F811
    from datagen.config import HF_MAX_TOKENS, GenerateConfig

    hf = f"hf:{tiny_model_dir}"
    assert GenerateConfig(teacher=hf, tasks="arithmetic").max_tokens == HF_MAX_TOKENS == 512
    assert GenerateConfig(teacher=hf, tasks="arithmetic", max_tokens=2048).max_tokens == 2048
    assert GenerateConfig(tasks="arithmetic").max_tokens == 2048  # other teachers keep theirs


def test_ctrl_c_stops_a_decoding_batch_at_once_and_logs_show_it(tiny_model_dir, tmp_path):  # noqa: F811
    """Off a terminal the job says what the model is doing while a batch decodes (its replies
    come only at the batch's end); Ctrl-C stops the decode loop within a token instead of
    waiting out a batch of rows of up to 2000 tokens (minutes on a CPU)."""
    import os
    import signal
    import subprocess
    import sys
    import threading
    import time

    from tests.conftest import REPO

    ws = tmp_path / "w"
    args = [sys.executable, "-m", "cotmill", "generate", "--workspace", str(ws), "--teacher", f"hf:{tiny_model_dir}",
            "--tasks", "arithmetic", "--count", "8", "--samples", "4", "--max-tokens", "2000", "--job", "long",
            "--status-every", "0.5"]  # fmt: skip
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    job = subprocess.Popen(args, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    decoding = threading.Event()

    def read() -> None:
        for line in job.stderr:
            lines.append(line)
            if re.search(r"decoding \d+ rows: token \d+ of at most 2000", line):
                decoding.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert decoding.wait(120), "".join(lines)
        job.send_signal(signal.SIGINT)
        sent = time.monotonic()
        job.wait(60)
        stopped_in = time.monotonic() - sent
    finally:
        job.kill()
    reader.join(10)
    log = "".join(lines)
    assert job.returncode == 130, log
    assert stopped_in < 15, f"took {stopped_in:.1f} s to stop\n{log}"
    assert lines[0].startswith("long: 32 completions"), log  # said at once, before any reply
    assert "interrupted: the replies received so far are stored" in log and "Traceback" not in log
    assert query(ws, "select status from jobs") == [("interrupted",)]
