"""`openai:MODEL`: any OpenAI-compatible chat endpoint (OpenAI, DeepSeek, vLLM,
SGLang, llama.cpp) through the `openai` package.

The client's own retries are off (max_retries=0): the engine retries, so that
Retry-After, backoff and the count of attempts are in one place, and failures are
classified here into transient / request / fatal.
"""

from __future__ import annotations

import email.utils
import json
import math
import time

import openai

from datagen.teachers.base import Choice, FatalError, Reply, Request, RequestError, TransientError

RETRYABLE_STATUS = {408, 409, 425, 429}


MAX_RETRY_AFTER_S = 3600.0  # a longer Retry-After is more likely a bug than a plan


def _seconds(value, scale: float = 1.0) -> float | None:
    try:
        seconds = float(value) / scale
    except (TypeError, ValueError):
        return None
    return min(max(0.0, seconds), MAX_RETRY_AFTER_S) if math.isfinite(seconds) else None


def retry_after_seconds(headers) -> float | None:
    """Seconds to wait from `retry-after-ms` or `Retry-After` (seconds or an HTTP
    date); None when absent or unreadable, so the engine's backoff applies."""
    if not headers:
        return None
    ms = _seconds(headers.get("retry-after-ms"), 1000.0)
    if ms is not None:
        return ms
    value = headers.get("retry-after")
    if not value:
        return None
    seconds = _seconds(value)
    if seconds is not None:
        return seconds
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return min(max(0.0, when.timestamp() - time.time()), MAX_RETRY_AFTER_S)


def split_think(content: str | None) -> tuple[str | None, str | None]:
    """Separate a leading `<think>…</think>` block from the answer text.
    An unclosed block (truncated output) is all reasoning and no answer."""
    if content is None:
        return None, None
    stripped = content.lstrip()
    if not stripped.startswith("<think>"):
        return content, None
    body = stripped[len("<think>") :]
    end = body.find("</think>")
    if end < 0:
        return "", body.strip()
    return body[end + len("</think>") :].strip(), body[:end].strip()


def _get(obj, name: str):
    # the SDK builds models without validating them: a field may be a dict, or absent
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)


def _content_text(value) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, list):  # content parts: [{"type": "text", "text": ...}]
        parts = [_get(part, "text") for part in value]
        if all(isinstance(p, str) for p in parts):
            return "".join(parts)
    raise TransientError(f"unparseable response body: message content of type {type(value).__name__}")


def _tokens(usage, name: str) -> int | None:
    value = _get(usage, name) if usage is not None else None
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _parse_choice(raw) -> Choice:
    message = _get(raw, "message")
    if message is None:
        raise TransientError("unparseable response body: a choice without a message")
    text, think = split_think(_content_text(_get(message, "content")))
    extra = (message.model_extra if hasattr(message, "model_extra") else message) or {}
    # DeepSeek and vLLM put reasoning in `reasoning_content`, newer servers in `reasoning`
    reasoning = extra.get("reasoning_content") or extra.get("reasoning") or think
    finish = _get(raw, "finish_reason")
    return Choice(
        text=text,
        reasoning=reasoning if isinstance(reasoning, str) else None,
        finish_reason=None if finish is None else str(finish),
    )


def parse_reply(response) -> Reply:
    """A chat completion as a Reply; a body that is not one is a transient error
    (retried). Unreadable usage is stored as 0 tokens and flagged, not retried:
    the reply itself was paid for."""
    choices = _get(response, "choices") if not isinstance(response, (str, bytes)) else None
    if not isinstance(choices, list) or not choices:
        raise TransientError("unparseable response body: no choices")
    ordered = sorted(choices, key=lambda c: _get(c, "index") if isinstance(_get(c, "index"), int) else 0)
    parsed = [_parse_choice(c) for c in ordered]
    usage = _get(response, "usage")
    prompt_tokens, completion_tokens = _tokens(usage, "prompt_tokens"), _tokens(usage, "completion_tokens")
    if prompt_tokens is None or completion_tokens is None:
        for choice in parsed:
            choice.meta["usage_missing"] = True
    return Reply(parsed, prompt_tokens or 0, completion_tokens or 0)


def _classify(error: Exception) -> Exception:
    if isinstance(error, openai.AuthenticationError):
        return FatalError(f"authentication failed (HTTP 401): {error.message}; check the API key")
    if isinstance(error, openai.PermissionDeniedError):
        return FatalError(f"permission denied (HTTP 403): {error.message}")
    if isinstance(error, openai.APIStatusError):
        code = error.status_code
        if code >= 500 or code in RETRYABLE_STATUS:
            return TransientError(f"HTTP {code}", retry_after_seconds(error.response.headers))
        return RequestError(f"HTTP {code}: {error.message}")
    if isinstance(error, openai.APITimeoutError):
        return TransientError("timeout")
    if isinstance(error, openai.APIConnectionError):
        return TransientError(f"connection error: {error.__cause__ or error}")
    if isinstance(error, (openai.APIResponseValidationError, json.JSONDecodeError, ValueError)):
        return TransientError(f"unparseable response body: {error}")
    return error


class OpenAITeacher:
    supports_n = True

    def __init__(self, model: str, base_url: str | None, api_key: str, timeout_s: float = 600.0):
        self.model = model
        self.name = f"openai:{model}"
        self.client = openai.AsyncOpenAI(
            api_key=api_key,
            base_url=base_url,
            max_retries=0,
            timeout=timeout_s,
        )

    async def complete(self, request: Request) -> Reply:
        params = request.params
        kwargs = dict(
            model=self.model,
            messages=request.messages,
            temperature=params.temperature,
            top_p=params.top_p,
            max_tokens=params.max_tokens,
            # lets a proxy or a test server tie a request to the completions it serves
            extra_headers={"X-Cotmill-Completion-Ids": ",".join(request.completion_ids)},
        )
        if request.n > 1:
            kwargs["n"] = request.n
        if params.extra:
            kwargs["extra_body"] = json.loads(params.extra)
        try:
            response = await self.client.chat.completions.create(**kwargs)
        except Exception as error:  # noqa: BLE001 - classified, unknown ones re-raised
            raise _classify(error) from error
        return parse_reply(response)

    async def aclose(self) -> None:
        await self.client.close()
