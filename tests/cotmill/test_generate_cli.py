"""`cotmill generate` as a user runs it: real processes, a real server, SIGKILL."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest

from tests.conftest import REPO, query, run_cli


def test_builtin_job_stores_every_completion_and_rerun_adds_nothing(tmp_path):
    ws = tmp_path / "w"
    args = [
        "generate",
        "--workspace",
        str(ws),
        "--job",
        "j1",
        "--tasks",
        "math,code,logic",
        "--count",
        "300",
        "--samples",
        "4",
        "--teacher",
        "builtin",
    ]
    first = run_cli(*args)
    assert first.returncode == 0, first.stderr
    by_domain = dict(
        query(ws, "select domain, count(*) from problems join completions using (problem_id) group by 1")
    )
    assert by_domain == {"math": 400, "code": 400, "logic": 400}  # a third of the problems each
    assert query(ws, "select count(distinct problem_id) from problems") == [(300,)]
    second = run_cli(*args)
    assert second.returncode == 0, second.stderr
    assert query(ws, "select count(*) from completions") == [(1200,)]
    assert re.search(r"already stored \(resumed\)\s*│\s*1,200", second.stdout)
    assert re.search(r"stored in this run\s*│\s*0 ", second.stdout)
    csv = run_cli(
        "sql",
        "select domain, count(*) from problems join completions using (problem_id) group by 1 order by 1",
        "--workspace",
        str(ws),
        "--format",
        "csv",
    )
    assert csv.returncode == 0
    lines = csv.stdout.strip().splitlines()
    assert lines[0] == "domain,count_star()" and len(lines) == 4
    assert sum(int(line.split(",")[1]) for line in lines[1:]) == 1200


def _start_generate(ws, server, count: int) -> subprocess.Popen:
    args = [
        sys.executable,
        "-m",
        "cotmill",
        "generate",
        "--workspace",
        str(ws),
        "--job",
        "kill",
        "--tasks",
        "math,code",
        "--count",
        str(count),
        "--samples",
        "2",
        "--n-per-request",
        "1",
        "--teacher",
        "openai:fake",
        "--base-url",
        server.base_url,
        "--concurrency",
        "4",
    ]
    env = {**os.environ, "OPENAI_API_KEY": "sk-test"}
    return subprocess.Popen(args, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_sigkill_then_resume_pays_for_nothing_twice(openai_server, tmp_path):
    server = openai_server(delay_s=0.05)
    ws = tmp_path / "w"
    proc = _start_generate(ws, server, count=60)
    deadline = time.monotonic() + 60
    while sum(server.state.served.values()) < 40 and time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read().decode()
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    served_first = Counter(server.state.served)
    assert 40 <= sum(served_first.values()) < 120, "the job should have been killed midway"

    stored = {cid for (cid,) in query(ws, "select completion_id from completions where error is null")}
    assert stored, "a flush should have happened before the kill"
    assert query(ws, "select count(*) from completions where text is null and error is null") == [(0,)]
    # the lock died with the process: the workspace opens for writing again
    server.state.served.clear()
    proc = _start_generate(ws, server, count=60)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err.decode()

    assert query(ws, "select count(*), count(distinct completion_id) from completions") == [(120, 120)]
    assert not stored & set(server.state.served), "a stored completion was requested again"
    # only the requests in flight (served but not yet flushed) were paid twice
    assert set(served_first) - stored == set(server.state.served) & set(served_first)


def test_sigterm_stores_what_arrived_and_says_how_to_resume(openai_server, tmp_path):
    server = openai_server(delay_s=0.1)
    ws = tmp_path / "w"
    proc = _start_generate(ws, server, count=60)
    deadline = time.monotonic() + 60
    while sum(server.state.served.values()) < 10 and time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read().decode()
        time.sleep(0.02)
    served_at_signal = sum(server.state.served.values())
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 143  # 128 + SIGTERM
    assert "Traceback" not in err.decode() and "re-run the same command to resume" in err.decode()
    assert query(ws, "select status from jobs") == [("interrupted",)]
    stored = query(ws, "select count(*) from completions where error is null")[0][0]
    # everything received is stored; only the (at most 4) requests in flight are lost
    assert served_at_signal - 4 <= stored <= sum(server.state.served.values())


def test_second_writer_gets_a_clear_busy_error(openai_server, tmp_path):
    server = openai_server(delay_s=0.2)
    ws = tmp_path / "w"
    proc = _start_generate(ws, server, count=40)
    try:
        deadline = time.monotonic() + 30
        while not server.state.requests and time.monotonic() < deadline:
            assert proc.poll() is None, proc.stderr.read().decode()
            time.sleep(0.02)
        other = run_cli("generate", "--workspace", str(ws), "--tasks", "math", "--count", "1")
        assert other.returncode != 0
        assert f"in use by PID {proc.pid}" in other.stderr
        assert "Traceback" not in other.stderr
        reader = run_cli("sql", "select 1", "--workspace", str(ws))
        assert reader.returncode != 0 and f"PID {proc.pid}" in reader.stderr
    finally:
        proc.kill()
        proc.wait(10)


@pytest.mark.parametrize(
    "yaml_text, expected",
    [
        ("tasks: math\nconcurrensy: 4\n", "key 'concurrensy': unknown key"),
        ("tasks: math\ntemperature: hot\n", "key 'temperature'"),
        ("tasks: math\ndifficulty: 9\n", "key 'difficulty'"),
        ("tasks: [unclosed\n", "invalid YAML"),
        ("count: 3\n", "give tasks"),
        ("source: problems.jsonl\ncount: 3\n", "use limit"),  # count would be ignored
        ("tasks: math\nlimit: 3\n", "for tasks, use count"),
    ],
)
def test_bad_config_names_the_key_and_the_file(tmp_path, yaml_text, expected):
    job = tmp_path / "job.yaml"
    job.write_text(yaml_text)
    result = run_cli("generate", "--config", str(job), "--workspace", str(tmp_path / "w"))
    assert result.returncode != 0
    assert str(job) in result.stderr and expected in result.stderr
    assert "Traceback" not in result.stderr


def test_config_file_and_flags(tmp_path):
    job = tmp_path / "job.yaml"
    job.write_text("job: from-file\ntasks: logic\ncount: 5\nsamples: 3\nstrategy: least_to_most\n")
    result = run_cli("generate", "--config", str(job), "--workspace", str(tmp_path / "w"), "--count", "4")
    assert result.returncode == 0, result.stderr
    assert query(tmp_path / "w", "select job, strategy, count(*) from completions group by all") == [
        ("from-file", "least_to_most", 12)
    ]


def test_unknown_task_and_bad_template_are_clear(tmp_path):
    result = run_cli("generate", "--workspace", str(tmp_path / "w"), "--tasks", "nosuchtask")
    assert result.returncode != 0 and "unknown task 'nosuchtask'" in result.stderr
    template = tmp_path / "t.txt"
    template.write_text("no placeholder here")
    result = run_cli(
        "generate", "--workspace", str(tmp_path / "w"), "--tasks", "math", "--template", str(template)
    )
    assert result.returncode != 0 and f"{template}: template has no {{problem}} placeholder" in result.stderr


def test_tasks_lists_every_domain():
    result = run_cli("tasks")
    assert result.returncode == 0
    for name in ("arithmetic", "math", "code", "logic"):
        assert name in result.stdout


def test_help_explains_each_flag():
    result = run_cli("generate", "--help")
    assert result.returncode == 0
    for flag in (
        "--concurrency",
        "--rpm",
        "--tpm",
        "--samples",
        "--n-per-request",
        "--error-rate",
        "--config",
    ):
        assert flag in result.stdout


@pytest.mark.parametrize(
    "yaml_text, expected",
    [
        ("tasks: nosuch\n", "key 'tasks': unknown task 'nosuch'"),
        ("tasks: math\nstrategy: foo\n", "key 'strategy': unknown strategy 'foo'"),
        ("tasks: math\nteacher: gpt4\n", "key 'teacher': unknown teacher 'gpt4'"),
        ("tasks: math\nprices: {m: {input: 1, out: 2}}\n", "key 'prices.m.input': unknown key"),
    ],
)
def test_values_checked_outside_types_also_name_key_and_file(tmp_path, yaml_text, expected):
    job = tmp_path / "job.yaml"
    job.write_text(yaml_text)
    result = run_cli("generate", "--config", str(job), "--workspace", str(tmp_path / "w"))
    assert result.returncode != 0 and f"{job}: {expected}" in result.stderr


def test_missing_api_key_for_a_remote_endpoint(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    result = subprocess.run(
        [sys.executable, "-m", "cotmill", "generate", "-w", str(tmp_path), "--tasks", "math", "--count", "1",
         "--teacher", "openai:gpt-x", "--base-url", "https://api.example.invalid/v1"],
        capture_output=True, text=True, env=env, cwd=REPO,
    )  # fmt: skip
    assert result.returncode != 0 and "OPENAI_API_KEY is not set" in result.stderr


def test_exit_status_tells_failed_and_stopped_jobs(openai_server, tmp_path):
    source = tmp_path / "p.jsonl"
    source.write_text('{"prompt": "fine", "answer": "1"}\n{"prompt": "TRIGGER_400", "answer": "2"}\n')
    server = openai_server(api_key="right")
    common = ["generate", "--source", str(source), "--field", "answer=answer", "--teacher", "openai:m",
              "--base-url", server.base_url]  # fmt: skip
    failed = run_cli(*common, "-w", str(tmp_path / "a"), env={"OPENAI_API_KEY": "right"})
    assert failed.returncode == 1 and "1 completion(s) failed; re-run" in failed.stderr
    stopped = run_cli(*common, "-w", str(tmp_path / "b"), env={"OPENAI_API_KEY": "wrong"})
    assert stopped.returncode == 2 and "authentication failed" in stopped.stderr


def test_a_long_retry_after_is_capped_and_logs_show_status_lines(openai_server, tmp_path):
    """Off a terminal the job prints why it waits and a periodic status line, and
    --max-retry-after caps an hour-long Retry-After."""
    from tests.openai_server import Faults

    server = openai_server(faults=Faults(rate_429=0.5, retry_after=3600, seed=2), delay_s=0.3)
    result = run_cli(
        "generate", "-w", str(tmp_path), "--tasks", "arithmetic", "--count", "6", "--teacher", "openai:m",
        "--base-url", server.base_url, "--concurrency", "2", "--max-retries", "30",
        "--max-retry-after", "0.5", "--status-every", "0.2",
        env={"OPENAI_API_KEY": "k"}, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Retry-After 3600 s" in result.stderr and "--max-retry-after 0.5" in result.stderr
    status = [
        line for line in result.stderr.splitlines() if line.startswith("default: ") and " done " in line
    ]
    assert status, result.stderr
    assert re.search(r"\d+/6 done \(stored \d+, failed 0\)", status[-1])
    assert "Retry-After pauses" in result.stdout


def test_source_bytes_and_columns_are_checked(tmp_path):
    source = tmp_path / "p.csv"
    source.write_bytes(b'\xef\xbb\xbfq,a\nfine?,"1\n#### 1"\ncaf\xe9?,#### 2\n')
    common = ["generate", "--source", str(source), "--preset", "gsm8k", "--field", "question=q",
              "-w", str(tmp_path / "w")]  # fmt: skip
    typo = run_cli(*common, "--field", "answer=ans", "--skip-invalid")
    assert typo.returncode != 0 and "Traceback" not in typo.stderr
    assert f"error: {source}: --field answer=ans: no column 'ans' (columns: a, q)" in typo.stderr
    stopped = run_cli(*common, "--field", "answer=a")
    assert stopped.returncode != 0 and f"{source} line 4: not UTF-8: byte 0xe9" in stopped.stderr
    skipped = run_cli(*common, "--field", "answer=a", "--skip-invalid")
    assert skipped.returncode == 0, skipped.stderr
    assert query(tmp_path / "w", "select answer from problems") == [("1",)]
    assert query(tmp_path / "w", "select location, raw from rejects") == [("line 4", "caf\\xe9?,#### 2")]
