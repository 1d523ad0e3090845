"""`openai:MODEL`: any OpenAI-compatible chat endpoint (OpenAI, DeepSeek, vLLM,
SGLang, llama.cpp) through the `openai` package.

The client's own retries are off (max_retries=0): the engine retries, so that
Retry-After, backoff and the count of attempts are in one place, and failures are
classified here into transient / request / fatal.
"""

from __future__ import annotations

import email.utils
import json
import time

import openai

from datagen.teachers.base import Choice, FatalError, Reply, Request, RequestError, TransientError

RETRYABLE_STATUS = {408, 409, 425, 429}


def retry_after_seconds(headers) -> float | None:
    """Seconds to wait from `retry-after-ms` or `Retry-After` (seconds or HTTP date)."""
    if not headers:
        return None
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value) if value else None
        return max(0.0, parsed.timestamp() - time.time()) if parsed else None


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


def _parse_choice(raw) -> Choice:
    message = raw.message
    text, think = split_think(message.content)
    extra = getattr(message, "model_extra", None) or {}
    # DeepSeek and vLLM put reasoning in `reasoning_content`, newer servers in `reasoning`
    reasoning = extra.get("reasoning_content") or extra.get("reasoning") or think
    return Choice(text=text, reasoning=reasoning, finish_reason=raw.finish_reason)


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
        try:
            response = await self.client.chat.completions.create(**kwargs)
        except Exception as error:  # noqa: BLE001 - classified, unknown ones re-raised
            raise _classify(error) from error
        choices = getattr(response, "choices", None)
        if isinstance(response, (str, bytes)) or not choices:
            raise TransientError("unparseable response body: no choices")
        ordered = sorted(choices, key=lambda c: c.index or 0)
        usage = response.usage
        return Reply(
            choices=[_parse_choice(c) for c in ordered],
            prompt_tokens=(usage.prompt_tokens or 0) if usage else 0,
            completion_tokens=(usage.completion_tokens or 0) if usage else 0,
        )

    async def aclose(self) -> None:
        await self.client.close()
