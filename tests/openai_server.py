"""A real OpenAI-compatible HTTP server for tests and benchmarks, with faults.

It serves `POST /v1/chat/completions` on 127.0.0.1 and answers each prompt with a
short CoT ending in \\boxed{...}. Faults are injected per attempt, decided by a
seeded hash of the request's completion ids and the attempt number, so a run is
reproducible: 429 with Retry-After, 500/503, 200 with a non-JSON body or with JSON
that is no completion, dropped connections, slow replies, 400 for prompts
containing TRIGGER_400 (and, with reject_n, for n > 1), and 401 when an API key is
required and a wrong one is sent.

The server logs every attempt, and which completion ids it *served* (a 200 with a
valid body): the resume tests check nothing stored is ever served twice.

Run standalone (for benchmarks): python tests/openai_server.py [--port 0] [faults as JSON]
"""

from __future__ import annotations

import asyncio
import base64
import json
import random
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from aiohttp import web

STATE = web.AppKey("state", object)


@dataclass
class Faults:
    rate_429: float = 0.0
    rate_500: float = 0.0
    rate_503: float = 0.0
    rate_garbage: float = 0.0  # 200 with a non-JSON body
    rate_drop: float = 0.0  # connection closed without a reply
    rate_slow: float = 0.0  # reply after `slow_s`
    rate_malformed: float = 0.0  # 200 with valid JSON that is no chat completion
    slow_s: float = 0.5
    retry_after: float | str | None = None  # Retry-After header sent with 429
    seed: int = 0


@dataclass
class ServerState:
    faults: Faults = field(default_factory=Faults)
    delay_s: float = 0.0  # every reply
    supports_n: bool = True
    api_key: str | None = None
    think: bool = False  # wrap a reasoning part in <think></think>
    reasoning_field: bool = False  # reasoning in message.reasoning_content, as DeepSeek does
    reject_n: bool = False  # 400 for any request with n > 1
    odd_fields: bool = False  # content as parts, finish_reason as a number, usage unreadable
    dissent_every: int = 0  # choice i answers one more when i % dissent_every == dissent_every - 1
    extra_text: str = ""  # appended to every reply's text (long replies, lone surrogates, ...)
    filler_bytes: int = 0  # this many random bytes, base64, appended to each reply: incompressible
    null_content: bool = False  # message.content is null, as some servers send on a filtered reply
    attempts: Counter = field(default_factory=Counter)  # ids -> attempts
    served: Counter = field(default_factory=Counter)  # completion id -> 200s served
    log: list = field(default_factory=list)  # (time, ids, outcome)
    bodies: list = field(default_factory=list)  # every request body received
    requests: int = 0


def _fault(state: ServerState, ids: str) -> str | None:
    attempt = state.attempts[ids]
    state.attempts[ids] += 1
    f = state.faults
    r = random.Random(f"{f.seed}:{ids}:{attempt}").random()
    for name, rate in (
        ("429", f.rate_429),
        ("500", f.rate_500),
        ("503", f.rate_503),
        ("garbage", f.rate_garbage),
        ("drop", f.rate_drop),
        ("slow", f.rate_slow),
        ("malformed", f.rate_malformed),
    ):
        if r < rate:
            return name
        r -= rate
    return None


def _answer(prompt: str, offset: int = 0) -> str:
    # deterministic per prompt: "solve" by echoing a hash-derived number
    value = sum(map(ord, prompt)) % 97 + offset
    return f"Step 1: think about it.\nStep 2: {value} + 0 = {value}.\nThe answer is \\boxed{{{value}}}."


def _completion(body: dict, state: ServerState) -> dict:
    prompt = body["messages"][-1]["content"]
    n = int(body.get("n") or 1) if state.supports_n else 1
    choices = []
    for i in range(n):
        dissent = state.dissent_every and i % state.dissent_every == state.dissent_every - 1
        text = _answer(prompt, 1 if dissent else 0) + state.extra_text
        if state.filler_bytes:
            text += "\n" + base64.b64encode(random.randbytes(state.filler_bytes)).decode()
        if state.think:
            text = f"<think>I reason about sample {i}.</think>\n{text}"
        message = {"role": "assistant", "content": None if state.null_content else text}
        if state.reasoning_field:
            message["reasoning_content"] = f"Deep thought number {i}."
        choices.append({"index": i, "message": message, "finish_reason": "stop"})
    prompt_tokens = len(prompt.split())
    if state.odd_fields:
        for choice in choices:
            choice["message"]["content"] = [{"type": "text", "text": choice["message"]["content"]}]
            choice["finish_reason"] = 1
        return {"id": "odd", "choices": choices, "usage": {"prompt_tokens": "abc", "completion_tokens": None}}
    return {
        "id": f"chatcmpl-{state.requests}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", "fake"),
        "choices": choices,
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": 20 * n,
            "total_tokens": prompt_tokens + 20 * n,
        },
    }


def _error(status: int, message: str, headers: dict | None = None) -> web.Response:
    body = {"error": {"message": message, "type": "test_fault", "code": status}}
    return web.json_response(body, status=status, headers=headers)


async def chat_completions(request: web.Request) -> web.StreamResponse:
    state: ServerState = request.app[STATE]
    state.requests += 1
    ids = request.headers.get("X-Cotmill-Completion-Ids", "")
    if state.api_key and request.headers.get("Authorization") != f"Bearer {state.api_key}":
        state.log.append((time.time(), ids, "401"))
        return _error(401, "Incorrect API key provided")
    body = await request.json()
    state.bodies.append(body)
    fault = _fault(state, ids or json.dumps(body["messages"]))
    state.log.append((time.time(), ids, fault or "ok"))
    if state.delay_s:
        await asyncio.sleep(state.delay_s)
    if "TRIGGER_400" in body["messages"][-1]["content"]:
        return _error(400, "this prompt is not allowed")
    if state.reject_n and int(body.get("n") or 1) > 1:
        return _error(400, "n > 1 is not supported by this server")
    if fault == "429":
        after = state.faults.retry_after
        headers = {"Retry-After": str(after)} if after is not None else {}
        return _error(429, "Rate limit reached", headers)
    if fault == "malformed":
        return web.json_response({"id": "x", "choices": [{"index": 0, "finish_reason": "stop"}]})
    if fault in ("500", "503"):
        return _error(int(fault), "The server had an error")
    if fault == "garbage":
        return web.Response(status=200, text="<html>upstream gateway hiccup</html>", content_type="text/html")
    if fault == "drop":
        request.transport.close()  # the client sees the connection die mid-request
        raise asyncio.CancelledError
    if fault == "slow":
        await asyncio.sleep(state.faults.slow_s)
    reply = _completion(body, state)
    for cid in list(filter(None, ids.split(",")))[: len(reply["choices"])]:
        state.served[cid] += 1
    return web.json_response(reply)


def make_app(state: ServerState) -> web.Application:
    app = web.Application()
    app[STATE] = state
    app.router.add_post("/v1/chat/completions", chat_completions)
    return app


class OpenAIServer:
    """The server in a background thread with its own event loop."""

    def __init__(self, state: ServerState | None = None, port: int = 0):
        self.state = state or ServerState()
        self.port = port
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> OpenAIServer:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    async def _start(self) -> None:
        self._runner = web.AppRunner(make_app(self.state), access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def __enter__(self) -> OpenAIServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--faults", default="{}", help="Faults fields as JSON")
    parser.add_argument("--delay", type=float, default=0.0)
    args = parser.parse_args()
    server = OpenAIServer(
        ServerState(faults=Faults(**json.loads(args.faults)), delay_s=args.delay), args.port
    )
    server.start()
    print(server.base_url, flush=True)
    try:
        sys.stdin.read()  # runs until stdin closes
    finally:
        server.stop()


if __name__ == "__main__":
    main()
