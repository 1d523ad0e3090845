"""The batch engine against a real HTTP server that misbehaves on purpose."""

from __future__ import annotations

import time

import pytest

from datagen.config import GenerateConfig
from datagen.jobs import run_generate
from tests.conftest import query as rows
from tests.openai_server import Faults

FAST_RETRY = {"retry_base_delay": 0.01, "retry_max_delay": 0.05, "flush_interval": 0.05}


def config(server, workspace, **kw) -> GenerateConfig:
    base = dict(
        workspace=str(workspace),
        job="j",
        tasks="math,code,logic",
        count=20,
        samples=1,
        teacher="openai:fake-model",
        base_url=server.base_url,
        concurrency=8,
        **FAST_RETRY,
    )
    base.update(kw)
    if base.get("source"):
        del base["count"]  # count is for task problems; with a source it is an error
    return GenerateConfig(**base)


@pytest.fixture(autouse=True)
def api_key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")


def test_transient_faults_end_with_exactly_the_requested_completions(openai_server, tmp_path):
    faults = Faults(
        rate_429=0.08,
        rate_500=0.06,
        rate_503=0.06,
        rate_garbage=0.05,
        rate_drop=0.05,
        retry_after=0.01,
        seed=3,
    )
    server = openai_server(faults=faults)
    stats = run_generate(config(server, tmp_path, count=200, samples=2, max_retries=12))
    assert stats.failed == 0 and stats.stored == 400
    good = rows(
        tmp_path, "select count(*), count(distinct completion_id) from completions where error is null"
    )
    assert good == [(400, 400)]
    assert rows(tmp_path, "select count(*) from completions where error is not null") == [(0,)]
    # every fault kind really happened and was retried
    outcomes = {o for _, _, o in server.state.log}
    assert {"429", "500", "503", "garbage", "drop", "ok"} <= outcomes
    assert stats.retries == sum(1 for _, _, o in server.state.log if o != "ok")
    # no completion was paid for twice
    assert max(server.state.served.values()) == 1


def test_rerun_sends_no_request(openai_server, tmp_path):
    server = openai_server()
    run_generate(config(server, tmp_path, samples=2))
    before = server.state.requests
    stats = run_generate(config(server, tmp_path, samples=2))
    assert server.state.requests == before
    assert stats.already_stored == 40 and stats.stored == 0


def test_retry_after_is_honoured(openai_server, tmp_path):
    server = openai_server(faults=Faults(rate_429=1.0, retry_after=0.6))
    server.state.faults.rate_429 = 1.0
    cfg = config(server, tmp_path, tasks="arithmetic", count=1, max_retries=2)
    stats = run_generate(cfg)
    times = [t for t, _, _ in server.state.log]
    assert len(times) == 3  # first try and two retries, then given up
    assert all(b - a >= 0.6 for a, b in zip(times, times[1:]))
    assert stats.failed == 1
    (error,) = rows(tmp_path, "select error from completions")[0]
    assert "gave up after 3 attempts" in error and "429" in error


def test_client_errors_are_stored_not_retried(openai_server, tmp_path):
    server = openai_server()
    source = tmp_path / "probs.jsonl"
    source.write_text(
        '{"prompt": "ok problem", "answer": "1"}\n{"prompt": "TRIGGER_400 bad", "answer": "2"}\n'
    )
    cfg = config(server, tmp_path / "w", tasks=None, source=str(source))
    stats = run_generate(cfg)
    assert stats.failed == 1 and stats.stored == 1
    assert server.state.requests == 2  # the 400 was not retried
    (error,) = rows(tmp_path / "w", "select error from completions where error is not null")[0]
    assert error.startswith("HTTP 400")
    # a re-run retries only the failed one
    run_generate(cfg)
    assert server.state.requests == 3


def test_bad_api_key_stops_the_job_at_once(openai_server, tmp_path, monkeypatch):
    server = openai_server(api_key="the-right-key")
    monkeypatch.setenv("OPENAI_API_KEY", "a-wrong-key")
    stats = run_generate(config(server, tmp_path, count=50, concurrency=2))
    assert stats.fatal and "authentication failed" in stats.fatal
    assert server.state.requests <= 2  # one per worker in flight, then nothing
    assert rows(tmp_path, "select status from jobs") == [("stopped",)]


def test_samples_use_n_and_fall_back_when_the_server_ignores_it(openai_server, tmp_path):
    with_n = openai_server()
    run_generate(config(with_n, tmp_path / "a", count=10, samples=4))
    assert with_n.state.requests == 10
    without_n = openai_server(supports_n=False)
    stats = run_generate(config(without_n, tmp_path / "b", count=10, samples=4))
    assert stats.stored == 40
    assert rows(tmp_path / "b", "select count(distinct completion_id) from completions") == [(40,)]
    assert max(without_n.state.served.values()) == 1
    # separate requests on request
    separate = openai_server()
    run_generate(config(separate, tmp_path / "c", count=10, samples=4, n_per_request=1))
    assert separate.state.requests == 40


@pytest.mark.parametrize("supports_n", [True, False])
def test_identical_samples_at_a_temperature_are_told(openai_server, tmp_path, supports_n):
    # this server answers every choice of a prompt with one text: sampling "off", as some
    # servers do when they decode greedily whatever the temperature (the n fallback too)
    notices = []
    server = openai_server(supports_n=supports_n)
    stats = run_generate(config(server, tmp_path / "a", count=8, samples=3, temperature=0.7),
                         on_notice=notices.append)  # fmt: skip
    assert stats.stored == 24 and stats.sampled_problems == 8 and stats.identical_problems == 8
    told = [n for n in notices if "identical samples" in n]
    assert len(told) == 1 and "sampling looks off on the server" in told[0] and "temperature 0.7" in told[0]

    # samples that differ, greedy decoding, one sample, or the builtin simulator: nothing to tell
    for name, server, kw in (
        ("b", openai_server(dissent_every=3), {"temperature": 0.7}),
        ("c", openai_server(), {"temperature": 0.0}),
        ("d", openai_server(), {"temperature": 0.7, "samples": 1}),
        ("e", None, {"temperature": 0.7, "teacher": "builtin", "base_url": None}),
    ):
        notices = []
        cfg = config(server or openai_server(), tmp_path / name, count=8, **{"samples": 3, **kw})
        stats = run_generate(cfg, on_notice=notices.append)
        assert stats.identical_problems == 0 and not notices, name
        assert stats.sampled_problems == (8 if name == "b" else 0), name


def test_reasoning_usage_and_cost_are_captured(openai_server, tmp_path):
    server = openai_server(think=True)
    run_generate(config(server, tmp_path, count=6, samples=2, price_in=1.0, price_out=2.0))
    got = rows(
        tmp_path,
        "select text, reasoning, finish_reason, prompt_tokens, completion_tokens, cost_usd, latency_ms from completions",
    )
    for text, reasoning, finish, p_tok, c_tok, cost, latency in got:
        assert "<think>" not in text and text.strip().endswith("}.")
        assert reasoning.startswith("I reason about sample")
        assert finish == "stop" and c_tok == 20 and latency > 0
        assert cost == pytest.approx(p_tok * 1e-6 + c_tok * 2e-6)
    # usage is billed per request of n=2: the split keeps the sum exact
    total = rows(tmp_path, "select sum(completion_tokens) from completions")[0][0]
    assert total == 20 * 12


def test_requests_per_minute_limit(openai_server, tmp_path):
    server = openai_server()
    start = time.monotonic()
    run_generate(config(server, tmp_path, count=6, rpm=300))  # one request per 0.2 s
    assert time.monotonic() - start >= 5 * 0.2
    times = sorted(t for t, _, _ in server.state.log)
    assert times[-1] - times[0] >= 5 * 0.2 * 0.9


def test_slow_replies_time_out_and_are_retried(openai_server, tmp_path):
    server = openai_server(faults=Faults(rate_slow=0.3, slow_s=2.0, seed=5))
    stats = run_generate(config(server, tmp_path, count=20, timeout=0.3, max_retries=10))
    assert stats.stored == 20 and stats.failed == 0
    # every slow reply timed out (a loaded machine may time out a few more)
    assert stats.errors.get("timeout", 0) >= sum(1 for _, _, o in server.state.log if o == "slow") > 0


def test_an_endpoint_that_rejects_n_gets_single_requests(openai_server, tmp_path):
    server = openai_server(reject_n=True)
    stats = run_generate(config(server, tmp_path, count=10, samples=4, concurrency=4))
    assert stats.stored == 40 and stats.failed == 0
    rejected = sum(1 for _, ids, _ in server.state.log if ids.count(",") == 3)
    assert rejected <= 4  # at most one n=4 try per worker before switching to singles
    assert max(server.state.served.values()) == 1


def test_json_that_is_no_completion_is_retried(openai_server, tmp_path):
    server = openai_server(faults=Faults(rate_malformed=0.5, seed=2))
    stats = run_generate(config(server, tmp_path, count=20, max_retries=12))
    assert stats.stored == 20 and stats.failed == 0
    assert stats.errors["unparseable response body"] == sum(
        1 for *_, o in server.state.log if o == "malformed"
    )


def test_odd_but_readable_replies_are_stored_not_paid_twice(openai_server, tmp_path):
    server = openai_server(odd_fields=True)
    stats = run_generate(config(server, tmp_path, count=6, samples=2))
    assert stats.stored == 12 and server.state.requests == 6
    got = rows(
        tmp_path, "select text, finish_reason, completion_tokens, meta->>'usage_missing' from completions"
    )
    assert all(t.endswith("}.") and f == "1" and c == 0 and m == "true" for t, f, c, m in got)


@pytest.mark.parametrize("header", ["soon", "inf", "-5", "Wed, 21 Oct 2015 07:28:00 GMT"])
def test_unreadable_or_past_retry_after_falls_back_to_backoff(openai_server, tmp_path, header):
    server = openai_server(faults=Faults(rate_429=0.5, retry_after=header, seed=4))
    stats = run_generate(config(server, tmp_path, count=10, max_retries=12))
    assert stats.stored == 10 and stats.retries > 0


def test_tokens_per_minute_limit(openai_server, tmp_path):
    server = openai_server()
    cfg = config(server, tmp_path, tasks="arithmetic", count=10, tpm=3000, concurrency=4)
    start = time.monotonic()
    run_generate(cfg)
    elapsed = time.monotonic() - start
    # the engine charges a prompt estimate (chars / 4) before and the 20 completion
    # tokens after each request; the bucket holds 10 s of budget (500 tokens) and
    # refills 50 a second, so what exceeds the bucket must take its time
    from datagen.prompts import STRATEGIES, render_messages

    prompts = [r[0] for r in rows(tmp_path, "select prompt from problems")]
    charged = sum(
        len(render_messages(STRATEGIES["cot"], p, "math")[0]["content"]) // 4 + 1 + 20 for p in prompts
    )
    expected = (charged - 500) / 50
    assert expected > 1.0
    assert elapsed >= 0.8 * expected


def test_reasoning_content_field_is_stored_apart(openai_server, tmp_path):
    server = openai_server(reasoning_field=True)
    run_generate(config(server, tmp_path, count=3, samples=2))
    got = rows(tmp_path, "select reasoning, text from completions order by sample_index")
    assert {r for r, _ in got} == {"Deep thought number 0.", "Deep thought number 1."}
    assert all("Deep thought" not in t for _, t in got)


def test_strategy_template_and_system_reach_the_endpoint(openai_server, tmp_path):
    server = openai_server()
    template = tmp_path / "t.txt"
    template.write_text("Puzzle time! {problem}\nRules: {answer_format} \\frac{1}{2} stays.")
    run_generate(
        config(
            server, tmp_path / "w", tasks="arithmetic", count=1, template=str(template), system="Be brief."
        )
    )
    (body,) = server.state.bodies
    assert body["messages"][0] == {"role": "system", "content": "Be brief."}
    user = body["messages"][1]["content"]
    assert user.startswith("Puzzle time! Evaluate the expression") and "\\boxed{}" in user
    assert "\\frac{1}{2} stays." in user
    # a changed template is a different request: nothing is reused
    template.write_text("Other wording. {problem}")
    run_generate(
        config(
            server, tmp_path / "w", tasks="arithmetic", count=1, template=str(template), system="Be brief."
        )
    )
    assert len(server.state.bodies) == 2
    strategies = rows(tmp_path / "w", "select distinct strategy from completions")
    assert len(strategies) == 2 and all(s.startswith("cot+") for (s,) in strategies)


def test_null_content_is_a_failed_reply_retried_by_the_next_run(openai_server, tmp_path):
    server = openai_server(null_content=True)
    cfg = config(server, tmp_path, count=6, samples=2)
    stats = run_generate(cfg)
    assert stats.stored == 0 and stats.failed == 12
    errors = rows(tmp_path, "select error from completions")
    assert len(errors) == 12 and all("no content" in e for (e,) in errors)
    assert rows(tmp_path, "select status from jobs") == [("failed",)]
    server.state.null_content = False
    stats = run_generate(cfg)
    assert stats.stored == 12 and stats.failed == 0
    assert rows(tmp_path, "select count(*) from completions where error is null and text is not null") == [
        (12,)
    ]


@pytest.mark.parametrize("header", ["3600", "http-date"])
def test_a_long_retry_after_is_capped_and_said(openai_server, tmp_path, header):
    import email.utils

    if header == "http-date":  # two hours ahead
        header = email.utils.formatdate(time.time() + 7200, usegmt=True)
    server = openai_server(faults=Faults(rate_429=0.5, retry_after=header, seed=1))
    notices = []
    start = time.monotonic()
    stats = run_generate(
        config(server, tmp_path, count=4, max_retry_after=0.3, max_retries=20), on_notice=notices.append
    )
    assert time.monotonic() - start < 30
    assert stats.stored == 4 and stats.retries > 0
    assert stats.waits > 0
    assert any("Retry-After" in n and "--max-retry-after" in n for n in notices), notices
