"""A real pretrained model (SmolLM2-135M-Instruct, `make smollm2`) through generate and verify:
as an `hf:` teacher on this machine, and behind `transformers serve`, a real OpenAI-compatible
server users run, which returns one choice for n > 1 and decodes greedily unless asked to sample."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import query, run_cli

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served(smollm2_dir):
    """`transformers serve` pinned to the imported model on 127.0.0.1."""
    cli = Path(sys.executable).parent / "transformers"
    if not cli.exists():
        pytest.skip("transformers' CLI is not installed (pip install 'transformers[serving]')")
    port = _free_port()
    log = open(Path(os.environ.get("TMPDIR", "/tmp")) / f"transformers-serve-{port}.log", "w")  # noqa: SIM115
    proc = subprocess.Popen([str(cli), "serve", str(smollm2_dir), "--host", "127.0.0.1", "--port", str(port),
                             "--device", "cpu", "--log-level", "warning"], stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while True:
        try:
            urllib.request.urlopen(f"{url}/health", timeout=2).read()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"transformers serve did not start; see {log.name}")
            time.sleep(1)
    yield f"{url}/v1"
    proc.terminate()
    proc.wait(timeout=30)
    log.close()


def test_hf_teacher_stores_real_completions_and_verify_judges_them(smollm2_dir, tmp_path):
    ws = str(tmp_path / "w")
    result = run_cli("generate", "--workspace", ws, "--teacher", f"hf:{smollm2_dir}", "--tasks", "addition",
                     "--difficulty", "1", "--count", "8", "--samples", "2", "--max-tokens", "48", timeout=600)  # fmt: skip
    assert result.returncode == 0, result.stderr
    rows = query(ws, "select text, finish_reason, prompt_tokens, completion_tokens, teacher from completions")
    assert len(rows) == 16
    for text, finish, prompt_tokens, completion_tokens, teacher in rows:
        assert (
            text.strip() and finish in ("stop", "length") and teacher.startswith("hf:SmolLM2-135M-Instruct@")
        )
        assert prompt_tokens > 20 and 0 < completion_tokens <= 48
    # a real model's sampled text differs between samples (the hf: teacher samples itself)
    assert len({r[0] for r in rows}) > 8
    result = run_cli("verify", "--workspace", ws, timeout=300)
    assert result.returncode == 0, result.stderr
    assert query(ws, "select count(*) from verdicts") == [(16,)]

    # problems without a reference: the model's own samples vote a pseudo-label
    source = tmp_path / "unlabelled.jsonl"
    source.write_text("".join(f'{{"prompt": "What is {a} + {b}?"}}\n' for a, b in ((2, 3), (4, 4), (7, 1))))
    result = run_cli("generate", "--workspace", ws, "--job", "unlabelled", "--teacher", f"hf:{smollm2_dir}",
                     "--source", str(source), "--samples", "3", "--max-tokens", "48", timeout=600)  # fmt: skip
    assert result.returncode == 0, result.stderr
    result = run_cli("verify", "--workspace", ws, "--job", "unlabelled", "--vote", timeout=300)
    assert result.returncode == 0, result.stderr
    assert query(ws, "select count(*) from pseudo_labels")[0][0] >= 1
    # curation marks what real text breaks (cut off, no stated answer); the report draws it all
    result = run_cli("curate", "--workspace", ws, timeout=300)
    assert result.returncode == 0, result.stderr
    marked = dict(query(ws, "select reason, count(*) from curation_marks group by 1"))
    truncated = query(ws, "select count(*) from completions where finish_reason = 'length'")[0][0]
    assert marked.get("truncated", 0) == truncated
    result = run_cli("report", "--workspace", ws, "--out", str(tmp_path / "report.html"), timeout=300)
    assert result.returncode == 0, result.stderr
    assert "addition" in (tmp_path / "report.html").read_text()


# 24 requests through a real server: 340 s on a 2-core machine busy with training, so a hang guard
# longer than the default 300 s
@pytest.mark.timeout(900)
def test_transformers_serve_n_fallback_usage_and_the_greedy_server_warning(served, smollm2_dir, tmp_path):
    ws = str(tmp_path / "w")
    common = ("generate", "--workspace", ws, "--teacher", f"openai:{smollm2_dir}", "--base-url", served,
              "--tasks", "addition", "--difficulty", "1", "--count", "6", "--samples", "2", "--max-tokens", "32")  # fmt: skip
    # the server ignores both n (one choice back) and the temperature (greedy): the job asks
    # again for the missing samples, stores them all, and says the copies are copies
    result = run_cli(*common, "--job", "greedy", "--temperature", "0.7", timeout=600)
    assert result.returncode == 0, result.stderr
    rows = query(ws, "select problem_id, sample_index, text, prompt_tokens, completion_tokens from completions "
                     "where job = 'greedy' order by 1, 2")  # fmt: skip
    assert len(rows) == 12 and {r[1] for r in rows} == {0, 1}
    assert all(r[3] > 20 and 0 < r[4] <= 32 for r in rows)  # usage as the server reported it
    assert all(a[2] == b[2] for a, b in zip(rows[::2], rows[1::2]))
    assert "sampling looks off on the server" in result.stderr
    assert "warning: 6 of 6 problems got identical samples at temperature 0.7" in result.stderr

    # asked to sample (transformers serve's generation_config), the samples differ and nothing is said
    sample = '{"generation_config": "{\\"do_sample\\": true}"}'
    result = run_cli(*common, "--job", "sampled", "--temperature", "1.0", "--extra-body", sample, timeout=600)
    assert result.returncode == 0, result.stderr
    rows = query(
        ws, "select problem_id, text from completions where job = 'sampled' order by problem_id, sample_index"
    )
    assert len(rows) == 12
    assert any(a[1] != b[1] for a, b in zip(rows[::2], rows[1::2]))
    assert "identical samples" not in result.stderr
    result = run_cli("verify", "--workspace", ws, timeout=300)
    assert result.returncode == 0, result.stderr
    assert query(ws, "select count(*) from verdicts") == [(24,)]
