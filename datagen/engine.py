"""The async batch engine: plan the requests a job still needs, send them with
bounded concurrency and rate limits, retry what is transient, and hand every
result to the store's writer as soon as it arrives.

Resume is by construction: each planned completion has a deterministic id, the
plan skips ids already stored without error, and the writer commits whatever has
arrived as soon as its previous commit is done, so a SIGKILL loses at most the
requests in flight and the replies that arrived during the last commit.

Simplification: one event loop, one process. Sharding across machines writes
separate workspaces (or Parquet shards) that the store can ingest later.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from aiolimiter import AsyncLimiter

from datagen import unstored
from datagen.prompts import render_messages
from datagen.records import Completion, GenParams, Problem, completion_id
from datagen.store import Store
from datagen.teachers.base import FatalError, Reply, Request, RequestError, Teacher, TransientError
from datagen.writer import Writer

# problems whose samples were all one text before the job says sampling looks off (a real
# sampler repeats itself sometimes on an easy problem, rarely on several in a row)
IDENTICAL_NOTICE_AFTER = 5


@dataclass
class EngineSettings:
    job: str
    strategy: str
    template: str
    params: GenParams
    samples: int = 1
    n_per_request: int | None = None
    system: str | None = None
    concurrency: int = 16
    rpm: float | None = None
    tpm: float | None = None
    max_retries: int = 8
    retry_base_delay: float = 1.0
    retry_max_delay: float = 60.0
    max_retry_after: float = 300.0  # longest pause a server's Retry-After may impose
    price_in: float = 0.0  # USD per 1M tokens
    price_out: float = 0.0
    flush_interval: float = 0.1  # least seconds between commits


@dataclass
class JobStats:
    requested: int = 0  # completions the job asks for
    already_stored: int = 0  # found at start (resume)
    stored: int = 0  # written in this run
    failed: int = 0  # not stored in this run: error rows, unstored and lost replies included
    unstored: int = 0  # replies the store refused, kept in unstored.jsonl (not requested again)
    lost: int = 0  # replies that could be neither stored nor written to unstored.jsonl
    lost_reason: str | None = None
    reingested: int = 0  # rows moved from unstored.jsonl into the store at the start
    waits: int = 0  # pauses a server's Retry-After imposed
    paused_until: float = 0.0  # monotonic time until which every worker waits
    retries: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    started: float = field(default_factory=time.monotonic)
    fatal: str | None = None
    disk_full: bool = False
    errors: dict[str, int] = field(default_factory=dict)
    # sampling check (temperature > 0, several samples): problems whose samples of this run
    # all came back, and how many of them came back as one text repeated
    sampled_problems: int = 0
    identical_problems: int = 0

    @property
    def pending(self) -> int:
        return self.requested - self.already_stored

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    @property
    def status(self) -> str:
        """The job row's status: stopped by a fatal error, failed when anything was not stored."""
        if self.disk_full or self.lost:
            return "failed"
        if self.fatal:
            return "stopped"
        return "failed" if self.failed else "done"


def plan(
    store: Store, problems: list[Problem], teacher: Teacher, s: EngineSettings, held: set[str] = frozenset()
) -> tuple[list[Request], int, int]:
    """The requests still to send, grouped `n` samples per request; how many
    completions were already stored (linked to this job in `job_completions`: it covers
    them, whichever job stored them); and how many are held in unstored.jsonl
    (paid for, refused by the store: never requested again)."""
    wanted: list[tuple[Problem, int, str]] = [
        (p, i, completion_id(p.problem_id, teacher.name, s.params, s.strategy, i))
        for p in problems
        for i in range(s.samples)
    ]
    done = store.existing_ids("completions", "completion_id", [w[2] for w in wanted], "t.error IS NULL")
    store.link_completions(s.job, sorted(done))
    kept = {w[2] for w in wanted} & held
    n = s.n_per_request or s.samples
    if not teacher.supports_n:
        n = 1
    requests: list[Request] = []
    by_problem: dict[str, list[str]] = {}
    for problem, _, cid in wanted:
        if cid not in done and cid not in kept:
            by_problem.setdefault(problem.problem_id, []).append(cid)
    lookup = {p.problem_id: p for p in problems}
    for pid, ids in by_problem.items():
        problem = lookup[pid]
        messages = render_messages(s.template, problem.prompt, problem.domain, s.system)
        for start in range(0, len(ids), n):
            requests.append(Request(problem, messages, s.strategy, s.params, ids[start : start + n]))
    return requests, len(done), len(kept)


class Engine:
    def __init__(
        self, store: Store, teacher: Teacher, settings: EngineSettings, on_update=None, on_notice=None
    ):
        self.store = store
        self.teacher = teacher
        self.s = settings
        self.stats = JobStats()
        self.on_update = on_update or (lambda stats: None)
        self.on_notice = on_notice or (lambda message: None)
        self.writer = Writer(store)
        self._closing = False
        self._sample_index: dict[str, int] = {}
        # rpm: one request per 60/rpm seconds, no burst (a burst of a whole minute's
        # quota is what gets paid accounts throttled); tpm: a bucket of 10 s of tokens
        self._rpm = AsyncLimiter(1, 60 / settings.rpm) if settings.rpm else None
        self._tpm = AsyncLimiter(settings.tpm / 6, 10) if settings.tpm else None
        self._fatal = asyncio.Event()
        self._use_n = True
        self._split_ids: set[str] = set()  # ids of n>1 requests retried as singles
        # a server that ignores the temperature returns K copies of one text: told, not stored silently
        self._check_sampling = (
            settings.samples > 1
            and settings.params.temperature > 0
            and not getattr(teacher, "deterministic", False)
        )
        self._texts: dict[str, list[int]] = {}  # problem -> hashes of this run's sample texts so far
        self._expected: dict[str, int] = {}  # problem -> samples this run asked for
        self._told_identical = False

    # --- the run ------------------------------------------------------------------

    async def run(self, problems: list[Problem]) -> JobStats:
        try:
            self.writer.reserve.make()
            try:
                self.store.defer_checkpoints()
                return await self._run(problems)
            finally:
                self.writer.reserve.release()
        except Exception as e:
            if not unstored.is_disk_full(e):  # the reserve, the problems or the re-ingest
                raise
            self.stats.disk_full = True
            self._stop(f"disk full: {e}")
            return self.stats

    async def _run(self, problems: list[Problem]) -> JobStats:
        requests = self.prepare(problems)
        queue: Iterator[Request] = iter(requests)
        flusher = asyncio.create_task(self._flush_loop())
        workers = [
            asyncio.create_task(self._worker(queue)) for _ in range(min(self.s.concurrency, len(requests)))
        ]
        try:
            await asyncio.gather(*workers)
        finally:
            for w in workers:
                w.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            # the flusher is told to finish, not cancelled: a cancelled task would leave its
            # commit running in the thread, its outcome uncounted, beside the last flush
            self._closing = True
            self.writer.has_rows.set()
            await flusher
            await self._flush()
            self.on_update(self.stats)
        return self.stats

    def prepare(self, problems: list[Problem]) -> list[Request]:
        """Store the problems and the replies unstored.jsonl holds, count what is stored
        already, and plan the requests still to send (the Ray driver plans this way too)."""
        self.store.write_batch([("problems", [p.row() for p in problems], "IGNORE")])
        ingested = unstored.ingest(self.store)
        self.stats.reingested = ingested.stored
        if ingested.stored:
            self.on_notice(f"stored {ingested.stored} replies kept in {unstored.FILE} by an earlier run")
        requests, done, held = plan(self.store, problems, self.teacher, self.s, ingested.held)
        if self._check_sampling:
            for r in requests:
                self._expected[r.problem.problem_id] = self._expected.get(r.problem.problem_id, 0) + r.n
        self.stats.requested = len(problems) * self.s.samples
        self.stats.already_stored = done
        self.stats.unstored = self.stats.failed = held
        if held:
            self.on_notice(
                f"{held} paid replies in {self.store.root / unstored.FILE} are still refused by the store "
                f"({ingested.error}); they are not requested again"
            )
        for p in problems:
            for i in range(self.s.samples):
                cid = completion_id(p.problem_id, self.teacher.name, self.s.params, self.s.strategy, i)
                self._sample_index[cid] = i
        self.on_update(self.stats)
        return requests

    async def _worker(self, queue: Iterator[Request]) -> None:
        extra: list[Request] = []
        while not self._fatal.is_set():
            if self.writer.full:  # back-pressure: the writer catches up before more is paid for
                await asyncio.sleep(0.005)
                continue
            request = extra.pop() if extra else next(queue, None)
            if request is None:
                return
            if request.n > 1 and not self._use_n:
                extra.extend(self._split(request))
                continue
            try:
                reply = await self._send(request)
            except FatalError as e:
                self._stop(str(e))
                return
            except RequestError as e:
                if request.n > 1:
                    # maybe the endpoint rejects `n`: retry this request as singles;
                    # if one of them succeeds, stop using `n` for the rest of the job
                    self._split_ids.update(request.completion_ids)
                    extra.extend(self._split(request))
                    continue
                self._record_failure(request, str(e))
                continue
            if request.completion_ids[0] in self._split_ids:
                self._use_n = False
            extra.extend(self._store_reply(request, reply))
            self.on_update(self.stats)
            if self._tpm and reply.completion_tokens:
                # charge what the reply really used, after it is safely buffered
                await self._tpm.acquire(min(reply.completion_tokens, self.s.tpm / 6))

    def _sampled(self, problem_id: str, text: str) -> None:
        if self._check_sampling and self._expected.get(problem_id, 0) > 1:
            self._texts.setdefault(problem_id, []).append(hash(text))  # a hash: long texts are not kept

    def _sample_complete(self, problem_id: str) -> None:
        """Once all of a problem's samples are in: were they one text repeated?"""
        texts = self._texts.get(problem_id)
        if texts is None or len(texts) < self._expected[problem_id]:
            return
        del self._texts[problem_id]
        self.stats.sampled_problems += 1
        if len(set(texts)) == 1:
            self.stats.identical_problems += 1
        st = self.stats
        if (
            not self._told_identical
            and st.identical_problems >= IDENTICAL_NOTICE_AFTER
            and (st.identical_problems == st.sampled_problems)
        ):
            self._told_identical = True
            self.on_notice(
                f"the teacher returned identical samples for each of the first {st.identical_problems} problems "
                f"at temperature {self.s.params.temperature:g}: sampling looks off on the server (it decodes "
                "greedily), so the extra samples are copies; stop the job and fix the server, or use --samples 1"
            )

    def _stop(self, reason: str) -> None:
        self.stats.fatal = self.stats.fatal or reason
        self._fatal.set()

    def _split(self, request: Request) -> list[Request]:
        return [self._single(request, cid) for cid in request.completion_ids]

    @staticmethod
    def _single(request: Request, cid: str) -> Request:
        return Request(request.problem, request.messages, request.strategy, request.params, [cid])

    async def _send(self, request: Request) -> Reply:
        for attempt in range(self.s.max_retries + 1):
            await self._throttle(request)
            try:
                start = time.perf_counter()
                reply = await self.teacher.complete(request)
                reply.latency_ms = (time.perf_counter() - start) * 1000  # type: ignore[attr-defined]
                return reply
            except TransientError as e:
                kind = str(e).split(":")[0]
                self.stats.errors[kind] = self.stats.errors.get(kind, 0) + 1
                if attempt == self.s.max_retries:
                    raise RequestError(f"gave up after {attempt + 1} attempts; last error: {e}") from e
                self.stats.retries += 1
                await asyncio.sleep(self._delay(attempt, e.retry_after))
        raise AssertionError("unreachable")

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            wait = min(retry_after, self.s.max_retry_after)
            now = time.monotonic()
            if now + wait > self.stats.paused_until:
                if now >= self.stats.paused_until and (wait >= 5 or wait < retry_after):
                    # a new pause worth telling (not every 429 of a burst)
                    capped = (
                        f", capped by --max-retry-after {self.s.max_retry_after:g} s"
                        if wait < retry_after
                        else ""
                    )
                    self.on_notice(
                        f"server asked to wait (Retry-After {retry_after:.0f} s): pausing {wait:.0f} s{capped}"
                    )
                self.stats.paused_until = now + wait
                self.stats.waits += 1
            return wait * random.uniform(1.0, 1.1)
        backoff = min(self.s.retry_max_delay, self.s.retry_base_delay * 2**attempt)
        return backoff * random.uniform(0.5, 1.5)  # jitter: retries of a burst do not re-collide

    async def _throttle(self, request: Request) -> None:
        wait = self.stats.paused_until - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        if self._rpm:
            await self._rpm.acquire()
        if self._tpm:
            estimate = sum(len(m["content"]) for m in request.messages) // 4 + 1
            await self._tpm.acquire(min(estimate, self.s.tpm / 6))

    # --- results --------------------------------------------------------------------

    def _store_reply(self, request: Request, reply: Reply) -> list[Request]:
        """Buffer one row per returned choice; any samples the endpoint did not
        return (servers that ignore `n`) come back as single requests."""
        got = reply.choices[: request.n]
        k = max(1, len(got))
        price_in, price_out = self.s.price_in / 1e6, self.s.price_out / 1e6
        latency = getattr(reply, "latency_ms", 0.0)
        for j, (cid, choice) in enumerate(zip(request.completion_ids, got)):
            # usage is billed per request: split it so the sums stay exact
            p_tok = reply.prompt_tokens // k + (reply.prompt_tokens % k if j == 0 else 0)
            c_tok = reply.completion_tokens // k + (reply.completion_tokens % k if j == 0 else 0)
            cost = p_tok * price_in + c_tok * price_out
            # null content (a filtered or empty reply) is no answer: an error row, which the next run retries
            error = (
                f"reply with no content (finish_reason {choice.finish_reason})"
                if choice.text is None
                else None
            )
            row = self._completion(
                request, cid, text=choice.text, reasoning=choice.reasoning, finish_reason=choice.finish_reason,
                prompt_tokens=p_tok, completion_tokens=c_tok, cost_usd=cost, latency_ms=latency, meta=choice.meta,
                error=error,
            )  # fmt: skip
            self.writer.add(unstored.sanitize(row.row()))
            if not error:
                self._sampled(request.problem.problem_id, choice.text)
            if error:
                self.stats.failed += 1
            else:
                self.stats.stored += 1
            self.stats.prompt_tokens += p_tok
            self.stats.completion_tokens += c_tok
            self.stats.cost_usd += cost
        missing = request.completion_ids[len(got) :]
        self._sample_complete(request.problem.problem_id)
        if missing:
            self._use_n = False  # the endpoint ignores `n`
        return [self._single(request, cid) for cid in missing]

    def _completion(self, request: Request, cid: str, **fields) -> Completion:
        problem_id, index = request.problem.problem_id, self._sample_index[cid]
        return Completion(cid, problem_id, self.s.job, self.teacher.name, request.strategy, index, **fields)

    def _record_failure(self, request: Request, error: str) -> None:
        for cid in request.completion_ids:
            self.writer.add(self._completion(request, cid, error=error).row())
            self.stats.failed += 1
        self.on_update(self.stats)

    async def _flush_loop(self) -> None:
        """Commit as soon as anything is buffered and the last commit is done:
        idle jobs commit every reply, busy ones batch what arrived meanwhile.
        `flush_interval` is the least time between commits."""
        while not self._closing:
            await self.writer.has_rows.wait()
            await self._flush()
            if self.s.flush_interval and not self._closing:
                await asyncio.sleep(self.s.flush_interval)

    async def _flush(self) -> None:
        """One commit; what could not be stored is counted here, on the loop."""
        w = await self.writer.flush()
        not_stored = w.unstored + w.lost
        self.stats.stored -= not_stored
        self.stats.failed += not_stored
        self.stats.unstored += w.unstored
        self.stats.lost += w.lost
        self.stats.lost_reason = self.stats.lost_reason or w.lost_reason
        self.stats.disk_full = self.stats.disk_full or w.disk_full
        if w.notice:
            self.on_notice(w.notice)
        if w.stop:
            self._stop(w.stop)
