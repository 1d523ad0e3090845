"""`hf:PATH`: a local transformers model as a datagen teacher, so a trained student can be sampled
through the same engine and store (rejection sampling, self-distillation).

The engine calls `complete()` from many concurrent tasks. One model answering one request at a time
would waste the batch dimension, so requests go into an asyncio queue; a collector task takes what
arrives within a short window (and everything that piled up while the last batch ran), and a single
worker thread runs `train.rollout.generate` on the whole batch, so the event loop never blocks on the
model. Requests in a batch are grouped by their sampling parameters; a request for n choices becomes
n rows of the batch.

The name, `hf:<dirname>@<hash>` (`hf:<run>/final@<hash>` for a training run's output), is part of the resume key: the hash covers the config files'
contents and the weight files' names, sizes and modification times (hashing gigabytes of weights on
every start would cost more than it saves), so retrained weights in the same directory count as a
new teacher and an unchanged directory resumes. The model is loaded on the first request, so a
re-run with nothing left to generate does not load it.

The decode loop checks a stop flag at every token (aclose sets it: Ctrl-C, SIGTERM, the job's
end), so an interrupted job stops within a step instead of waiting out a batch of long
completions, and records its progress, which `status()` reports for the job's status line
while a batch runs (a batch's replies arrive only at its end).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from pathlib import Path

from datagen.records import content_hash
from datagen.teachers import register
from datagen.teachers.base import Choice, FatalError, Reply, Request, RequestError
from verifiers.errors import CotmillError

CONFIG_FILES = ("config.json", "adapter_config.json", "generation_config.json", "tokenizer_config.json",
                "tokenizer.json", "chat_template.jinja")  # fmt: skip
WEIGHT_PATTERNS = ("*.safetensors", "*.bin", "*.pt")


class HFTeacherError(CotmillError, ValueError):
    """PATH is not a model directory."""


class Stopped(Exception):
    """The teacher was closed while a batch was decoding."""


def model_fingerprint(path: Path) -> str:
    parts = []
    for name in CONFIG_FILES:
        file = path / name
        if file.is_file():
            parts += [name, file.read_text(encoding="utf-8", errors="replace")]
    for pattern in WEIGHT_PATTERNS:
        for file in sorted(path.glob(pattern)):
            st = file.stat()
            parts += [file.name, str(st.st_size), str(st.st_mtime_ns)]
    return content_hash(*parts, size=4)


def teacher_name(path) -> str:
    path = Path(path)
    if not path.is_dir():
        raise HFTeacherError(f"teacher hf:{path}: no such model directory")
    if not (path / "config.json").is_file() and not (path / "adapter_config.json").is_file():
        raise HFTeacherError(
            f"teacher hf:{path}: not a model directory (no config.json or adapter_config.json)"
        )
    path = path.resolve()
    # a training run's outputs are out/final, out/merged, out/checkpoint-N: the run's name says more
    generic = path.name in ("final", "merged") or path.name.startswith("checkpoint-")
    label = f"{path.parent.name}/{path.name}" if generic else path.name
    return f"hf:{label}@{model_fingerprint(path)}"


class HFTeacher:
    supports_n = True

    def __init__(self, path, *, device: str = "auto", precision: str = "auto", batch_size: int = 32,
                 window_s: float = 0.02, seed: int = 0):  # fmt: skip
        self.path = Path(path)
        self.name = teacher_name(self.path)
        self.device, self.precision = device, precision
        self.batch_size = batch_size  # rows (prompt x choice) per forward pass
        self.window_s = window_s  # how long the collector waits for more requests after the first
        self.seed = seed
        self._model = self._tokenizer = self._generator = None
        self._stop = threading.Event()
        self._batch: list | None = None  # [rows, max steps, steps taken, start] of the batch decoding now
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._queue: asyncio.Queue | None = None
        self._collector: asyncio.Task | None = None

    async def complete(self, request: Request) -> Reply:
        self._start()
        future = asyncio.get_running_loop().create_future()
        await self._queue.put((request, future))
        return await future

    def status(self) -> str:
        """What the model is doing, for a job's status line."""
        if self._model is None and self._executor is not None:
            return "loading the model"
        if self._batch is None:
            return ""
        rows, most, steps, start = self._batch
        return f"decoding {rows} rows: token {steps} of at most {most}, {time.monotonic() - start:.0f} s"

    async def aclose(self) -> None:
        self._stop.set()  # the worker thread leaves its decode loop at the next token
        if self._collector is not None:
            self._collector.cancel()
            await asyncio.gather(self._collector, return_exceptions=True)
        self._collector = self._queue = None
        if self._executor is not None:
            # no wait: after an interrupt the thread may be mid-batch; it finishes on its own references
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None
        self._model = self._tokenizer = None  # frees the weights (GPU memory) for the stages after generate

    def _start(self) -> None:
        # asyncio objects belong to one loop: each asyncio.run (a job) gets its own queue and collector
        if self._collector is None or self._collector.get_loop() is not asyncio.get_running_loop():
            self._queue = asyncio.Queue()
            self._collector = asyncio.get_running_loop().create_task(self._collect())
        if self._executor is None:
            self._stop = threading.Event()  # a fresh one: the last job's aclose set the old one
            # one thread owns the model: batches run one after another, never interleaved
            self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="hf-teacher")

    async def _collect(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self._queue.get()]
            deadline = loop.time() + self.window_s
            while (wait := deadline - loop.time()) > 0:
                try:
                    batch.append(await asyncio.wait_for(self._queue.get(), wait))
                except asyncio.TimeoutError:
                    break
            while not self._queue.empty():
                batch.append(self._queue.get_nowait())
            batch = [(r, f) for r, f in batch if not f.done()]  # the engine may have cancelled some
            if not batch:
                continue
            try:
                replies = await loop.run_in_executor(self._executor, self._run_batch, [r for r, _ in batch])
            except Exception as e:  # noqa: BLE001 - every waiting request must hear about it
                for _, future in batch:
                    if not future.done():
                        future.set_exception(e if isinstance(e, (FatalError, RequestError)) else RequestError(
                            f"{type(e).__name__}: {e}"))  # fmt: skip
                continue
            for (_, future), reply in zip(batch, replies):
                if future.done():
                    continue
                if isinstance(reply, Exception):
                    future.set_exception(reply)
                else:
                    future.set_result(reply)

    # --- the worker thread ---------------------------------------------------------------

    def _load(self) -> None:
        import torch

        from train.model import load_model

        try:
            self._model, self._tokenizer = load_model(self.path, device=self.device, precision=self.precision,
                                                      trainable=False)  # fmt: skip
        except ValueError as e:
            raise FatalError(f"teacher {self.name}: {e}") from None
        self._generator = torch.Generator().manual_seed(self.seed)

    def _on_step(self, stop: threading.Event, batch: list, steps: int) -> None:
        if stop.is_set():
            raise Stopped("the teacher was closed")
        batch[2] = steps

    def _run_batch(self, requests: list[Request]) -> list[Reply | Exception]:
        """Blocking: generate for every request, one `generate` call per distinct sampling setting."""
        from functools import partial

        from train.data import encode_prompt
        from train.rollout import generate

        stop = self._stop
        if stop.is_set():
            raise Stopped("the teacher was closed")
        if self._model is None:
            self._load()
        model, tokenizer, generator = self._model, self._tokenizer, self._generator  # aclose may drop them
        context = getattr(model.config, "max_position_embeddings", None) or 1 << 30
        replies: list[Reply | Exception] = [RequestError("not generated")] * len(requests)
        groups: dict[tuple, list[tuple[int, list[int]]]] = {}
        for i, r in enumerate(requests):
            prompt = encode_prompt(r.messages, tokenizer)
            # a request asking past the model's context is cut there (finish_reason "length")
            max_tokens = min(r.params.max_tokens, context - len(prompt))
            if max_tokens < 1:
                replies[i] = RequestError(
                    f"the prompt's {len(prompt)} tokens fill the model's context ({context})"
                )
                continue
            groups.setdefault((r.params.temperature, r.params.top_p, max_tokens), []).append((i, prompt))
        for (temperature, top_p, max_tokens), members in groups.items():
            ns = [requests[i].n for i, _ in members]
            # a request's n choices are n consecutive rows
            rows = [p for (_, p), n in zip(members, ns) for _ in range(n)]
            # generate splits rows into batches of batch_size: the status shows the first's size
            self._batch = batch = [min(len(rows), self.batch_size), max_tokens, 0, time.monotonic()]
            try:
                out = generate(model, tokenizer, rows, n=1, max_new_tokens=max_tokens, temperature=temperature,
                               top_p=top_p, generator=generator, batch_size=self.batch_size,
                               on_step=partial(self._on_step, stop, batch))  # fmt: skip
            finally:
                self._batch = None
            row = 0
            for (i, prompt), n in zip(members, ns):
                part = range(row, row + n)
                choices = [Choice(out.texts[j], None, "length" if out.truncated[j] else "stop") for j in part]
                replies[i] = Reply(choices, len(prompt), sum(out.lengths[j] for j in part))
                row += n
        return replies


def make_hf_teacher(spec: str, **kw) -> HFTeacher:
    """`hf:PATH` -> an HFTeacher (a clear error when PATH is not a model directory)."""
    if not spec.startswith("hf:") or len(spec) == len("hf:"):
        raise HFTeacherError(f"expected hf:PATH, got {spec!r}")
    try:  # now, not in the worker thread where it would fail every request one by one
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError as e:
        raise HFTeacherError(
            f"teacher {spec} needs the training extras (pip install 'cotmill[train]'): {e}"
        ) from None
    return HFTeacher(spec[len("hf:") :], **kw)


def _check(path: str) -> None:
    if not path or not Path(path).is_dir():
        raise ValueError(f"teacher hf:{path}: no model directory at {path or '(empty path)'!r}")


# the `hf` teacher kind; datagen.teachers imports this module on its first lookup
@register("hf", check=_check, usage="hf:PATH")
def _make(path: str, *, precision: str = "auto", **_) -> HFTeacher:
    return make_hf_teacher(f"hf:{path}", precision=precision)
