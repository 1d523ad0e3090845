"""The generation job's configuration: one pydantic model, the source of truth for
`cotmill generate` flags and `--config job.yaml` keys alike (same names; dashes
in YAML keys are accepted as underscores)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from verifiers.errors import CotmillError


class ConfigError(CotmillError, ValueError):
    """A bad job config: the message names the file and the key."""


class Price(BaseModel):
    """USD per 1M tokens, as `{in: 0.55, out: 2.19}`."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    in_: float = Field(alias="in", ge=0)
    out: float = Field(ge=0)


# A local model on a CPU decodes a few dozen tokens a second, and a small one that does not stop
# rambles to the cap: 2048 tokens a row kept a first `--teacher hf:` run busy for many minutes.
HF_MAX_TOKENS = 512


class GenerateConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    workspace: str | None = None
    job: str = "default"
    tasks: str | None = None  # task or domain names, comma-separated
    count: int = Field(default=100, ge=0)  # problems from tasks
    difficulty: str = "1-5"  # "3" or "1-5"
    source: str | None = None  # a JSONL/CSV/Parquet file, a datasets directory or hub name
    preset: Literal["gsm8k", "math", "humaneval"] | None = None
    fields: dict[str, str] = Field(default_factory=dict)  # our name -> column in the file
    domain: str | None = None  # for sources without a preset: a domain of the registered tasks
    split: str | None = None  # for datasets directories and hub names
    limit: int | None = Field(default=None, ge=1)  # problems read from the source
    skip_invalid: bool = False  # bad rows go to `rejects` instead of stopping the load
    samples: int = Field(default=1, ge=1)
    n_per_request: int | None = Field(default=None, ge=1)  # None: all samples of a problem at once
    teacher: str = "builtin"
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    strategy: str = "cot"
    template: str | None = None  # a file overriding the strategy's template
    system: str | None = None
    temperature: float = Field(default=0.7, ge=0, le=2)
    top_p: float = Field(default=1.0, gt=0, le=1)
    max_tokens: int = Field(default=2048, ge=1)  # hf: teachers: HF_MAX_TOKENS unless given
    # extra fields sent with every request of an openai: teacher (part of the resume key),
    # e.g. {"top_k": 20} for vLLM or transformers serve's {"generation_config": "{\"do_sample\": true}"}
    extra_body: dict | None = None
    # hf: teachers: the weights' precision. auto: bf16 on a GPU, fp32 on a CPU; bf16 on a CPU
    # with AVX512-BF16 or AMX samples about 3x faster (oneDNN's bf16 matmuls)
    precision: Literal["auto", "bf16", "fp32"] = "auto"
    concurrency: int = Field(default=16, ge=1)
    rpm: float | None = Field(default=None, gt=0)  # requests per minute
    tpm: float | None = Field(default=None, gt=0)  # tokens per minute
    timeout: float = Field(default=600.0, gt=0)  # seconds per request
    max_retries: int = Field(default=8, ge=0)
    retry_base_delay: float = Field(default=1.0, ge=0)
    retry_max_delay: float = Field(default=60.0, ge=0)
    max_retry_after: float = Field(default=300.0, ge=0)  # cap on a server's Retry-After pause
    seed: int = 0
    error_rate: float = Field(default=0.0, ge=0, le=1)
    price_in: float = Field(default=0.0, ge=0)  # USD per 1M prompt tokens
    price_out: float = Field(default=0.0, ge=0)  # USD per 1M completion tokens
    prices: dict[str, Price] = Field(default_factory=dict)  # model -> {in, out}
    flush_interval: float = Field(default=0.1, ge=0)  # least seconds between store commits
    executor: Literal["local", "ray"] = (
        "local"  # ray: Ray actors over shards of problems (datagen.ray_generate)
    )
    ray_address: str | None = None  # "auto", HOST:PORT; None: RAY_ADDRESS, else a local Ray for the run
    shard_rows: int | None = Field(
        default=None, ge=1
    )  # problems per Ray task; None: ray_generate.SHARD_PROBLEMS

    @field_validator("difficulty", mode="before")
    @classmethod
    def _difficulty(cls, value) -> str:
        text = str(value).strip()
        lo, _, hi = text.partition("-")
        try:
            low, high = int(lo), int(hi or lo)
        except ValueError:
            raise ValueError(f"expected a level like 3 or a range like 1-5, got {text!r}") from None
        if not 1 <= low <= high <= 5:
            raise ValueError(f"difficulty must lie within 1-5, got {text!r}")
        return f"{low}-{high}"

    @field_validator("strategy")
    @classmethod
    def _strategy(cls, value: str) -> str:
        from datagen.prompts import STRATEGIES

        if value not in STRATEGIES:
            raise ValueError(f"unknown strategy {value!r}; use one of {', '.join(STRATEGIES)}")
        return value

    @field_validator("teacher")
    @classmethod
    def _teacher(cls, value: str) -> str:
        from datagen.teachers import check_teacher  # the teacher registry: built-ins and plugins

        return check_teacher(value)

    @field_validator("domain")
    @classmethod
    def _domain(cls, value: str | None) -> str | None:
        from datagen.tasks import domains

        if value is not None and value not in domains():
            raise ValueError(f"unknown domain {value!r}; use one of {', '.join(domains())}")
        return value

    @field_validator("tasks")
    @classmethod
    def _tasks(cls, value: str | None) -> str | None:
        if value is not None:
            from datagen.tasks import select_tasks

            try:
                select_tasks(value)
            except KeyError as e:
                raise ValueError(e.args[0]) from None
        return value

    @model_validator(mode="after")
    def _needs_problems(self) -> GenerateConfig:
        if not self.tasks and not self.source:
            raise ValueError("give tasks (task or domain names) or a source file")
        if self.source and not self.tasks and "count" in self.model_fields_set:
            # silently generating every problem of a 10k-row file costs money
            raise ValueError(
                "count is the number of task problems; to read fewer problems from a source, use limit"
            )
        if self.limit is not None and not self.source:
            raise ValueError("limit caps the problems read from a source; for tasks, use count")
        if self.extra_body and not self.teacher.startswith("openai:"):
            raise ValueError(f"extra_body is sent to openai: teachers only, not to {self.teacher}")
        if self.teacher.startswith("hf:") and "max_tokens" not in self.model_fields_set:
            self.max_tokens = HF_MAX_TOKENS
        return self

    def difficulty_range(self) -> tuple[int, int]:
        lo, hi = self.difficulty.split("-")
        return int(lo), int(hi)

    def price(self) -> tuple[float, float]:
        """USD per 1M tokens (in, out): explicit price_in/price_out win, then the
        price table's entry for the teacher's model."""
        model = self.teacher.split(":", 1)[-1]
        entry = self.prices.get(model) or self.prices.get(self.teacher) or Price(**{"in": 0.0, "out": 0.0})
        given = self.model_fields_set
        return (
            self.price_in if "price_in" in given else entry.in_,
            self.price_out if "price_out" in given else entry.out,
        )


def describe(error: ValidationError, where: str) -> str:
    lines = []
    for item in error.errors():
        key = ".".join(str(p) for p in item["loc"]) or "(top level)"
        msg = (
            "unknown key" if item["type"] == "extra_forbidden" else item["msg"].removeprefix("Value error, ")
        )
        lines.append(f"{where}: key '{key}': {msg}")
    return "\n".join(lines)


def read_yaml(path: str | Path) -> dict:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror}") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}{line}: invalid YAML: {getattr(e, 'problem', e)}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of keys to values, got {type(data).__name__}")
    return {str(k).replace("-", "_"): v for k, v in data.items()}


def load_config(path: str | Path | None, overrides: dict, file_label: str | None = None) -> GenerateConfig:
    """File values first, then explicit overrides (command-line flags)."""
    data = read_yaml(path) if path else {}
    data.update(overrides)
    where = str(path) if path else (file_label or "command line")
    try:
        return GenerateConfig(**data)
    except ValidationError as e:
        raise ConfigError(describe(e, where)) from None
