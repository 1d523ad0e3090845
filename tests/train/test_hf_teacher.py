"""The hf:PATH teacher on the tiny model: its name (the resume key), batching of concurrent
requests in a worker thread, n choices, token counts and finish reasons."""

from __future__ import annotations

import asyncio
import os
import shutil
import time

import pytest

from datagen.records import GenParams
from datagen.tasks import make_problem
from datagen.teachers.base import Request
from train.hf_teacher import HFTeacher, HFTeacherError, make_hf_teacher, teacher_name


class CountingTeacher(HFTeacher):
    """Records the size and duration of every batch the worker thread runs."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.batches: list[int] = []
        self.seconds: list[float] = []

    def _run_batch(self, requests):
        self.batches.append(len(requests))
        start = time.perf_counter()
        try:
            return super()._run_batch(requests)
        finally:
            self.seconds.append(time.perf_counter() - start)


def _request(index: int, n: int = 1, **params) -> Request:
    problem = make_problem("arithmetic", 0, index, 1)
    messages = [{"role": "user", "content": problem.prompt}]
    return Request(problem, messages, "cot", GenParams(**params), [f"c{index}-{i}" for i in range(n)])


def test_name_is_deterministic_and_follows_the_weights(tiny_model_dir, tmp_path):
    copy = tmp_path / "student"
    shutil.copytree(tiny_model_dir, copy)
    name = teacher_name(copy)
    assert name.startswith("hf:student@") and name == teacher_name(copy)
    weights = copy / "model.safetensors"
    st = weights.stat()
    os.utime(weights, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # retrained weights: a new teacher
    assert teacher_name(copy) != name
    final = tmp_path / "sft-run" / "final"
    shutil.copytree(tiny_model_dir, final)
    assert teacher_name(final).startswith("hf:sft-run/final@")
    with pytest.raises(HFTeacherError, match="no such model directory"):
        teacher_name(tmp_path / "missing")
    with pytest.raises(HFTeacherError, match="not a model directory"):
        make_hf_teacher(f"hf:{tmp_path}")
    with pytest.raises(HFTeacherError, match="expected hf:PATH"):
        make_hf_teacher("hf:")


def test_concurrent_requests_share_batches_and_keep_the_loop_free(tiny_model_dir):
    from train.data import encode_prompt

    teacher = CountingTeacher(tiny_model_dir, window_s=0.05)
    ticks: list[float] = []

    async def ticker(stop: asyncio.Event) -> None:
        while not stop.is_set():
            ticks.append(time.perf_counter())
            await asyncio.sleep(0.002)

    async def main():
        stop = asyncio.Event()
        tick = asyncio.create_task(ticker(stop))
        requests = [_request(i, n=2, temperature=0.7, max_tokens=24) for i in range(6)]
        requests.append(_request(6, n=1, temperature=0.0, max_tokens=8))  # other params: its own group
        replies = await asyncio.gather(*(teacher.complete(r) for r in requests))
        stop.set()
        await tick
        await teacher.aclose()
        return requests, replies

    requests, replies = asyncio.run(main())
    assert teacher.batches == [7]  # all seven arrived within the window: one batch
    # the event loop kept running while the model loaded and generated in its thread: no pause
    # between ticks comes near the batch's duration (a loop blocked by the model would pause for all of it)
    longest_pause = max(b - a for a, b in zip(ticks, ticks[1:]))
    assert longest_pause < teacher.seconds[0] / 3, (longest_pause, teacher.seconds)
    tokenizer = __import__("transformers").AutoTokenizer.from_pretrained(tiny_model_dir)
    for request, reply in zip(requests, replies):
        assert len(reply.choices) == request.n
        assert reply.prompt_tokens == len(encode_prompt(request.messages, tokenizer))
        assert all(c.finish_reason in ("stop", "length") for c in reply.choices)
        assert 1 <= reply.completion_tokens <= request.params.max_tokens * request.n
        if all(c.finish_reason == "length" for c in reply.choices):
            assert reply.completion_tokens == request.params.max_tokens * request.n
    assert teacher._model is None  # aclose freed the weights


def test_greedy_reply_is_what_rollout_generates(tiny_model_dir):
    """The teacher's text for a request is the model's own continuation of the chat-templated
    prompt (the same loop GRPO samples with), and a second job reloads after aclose."""
    from train.data import encode_prompt
    from train.model import load_model
    from train.rollout import generate

    request = _request(3, n=1, temperature=0.0, max_tokens=12)
    teacher = make_hf_teacher(f"hf:{tiny_model_dir}")

    async def ask():
        try:
            return await teacher.complete(request)
        finally:
            await teacher.aclose()

    first, second = asyncio.run(ask()), asyncio.run(ask())  # one loop per job, as run_generate does
    model, tokenizer = load_model(tiny_model_dir, trainable=False)
    expected = generate(model, tokenizer, [encode_prompt(request.messages, tokenizer)], max_new_tokens=12,
                        temperature=0.0)  # fmt: skip
    assert first.choices[0].text == second.choices[0].text == expected.texts[0]
    assert first.completion_tokens == expected.lengths[0]
    assert first.choices[0].finish_reason == ("length" if expected.truncated[0] else "stop")


def test_a_prompt_past_the_context_fails_alone(tiny_model_dir):
    from datagen.teachers.base import RequestError

    teacher = HFTeacher(tiny_model_dir)
    long = _request(1, max_tokens=4)
    long.messages = [{"role": "user", "content": "7 " * 5000}]

    async def main():
        try:
            return await asyncio.gather(teacher.complete(long), teacher.complete(_request(2, max_tokens=4)),
                                        return_exceptions=True)  # fmt: skip
        finally:
            await teacher.aclose()

    failed, ok = asyncio.run(main())
    assert isinstance(failed, RequestError) and "context" in str(failed)
    assert len(ok.choices) == 1
