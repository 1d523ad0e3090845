"""The settings of verify, curate, export and eval: pydantic models that the CLI's options,
the pipeline file's stages and the Python API's keyword arguments all read, so each default
is written once. The other commands' models live with the code they configure:
datagen.config.GenerateConfig, mixtures.spec.MixSpec, train.sft_config.SFTConfig and
train.grpo_config.GRPOConfig.

No heavy imports: the CLI builds its options from these at start-up."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from mixtures import defaults


def _list(value):
    """A comma-separated string (as a flag gives it) or a list."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


# Settings that say where work runs, not what it stores: a pipeline stage's fingerprint
# leaves them out, so moving a pipeline onto Ray re-runs nothing (cotmill.pipeline)
EXECUTION_FIELDS = frozenset({"executor", "ray_address", "shard_rows"})


class VerifyConfig(BaseModel):
    """`cotmill verify`: judge the completions without a current verdict."""

    model_config = ConfigDict(extra="forbid")

    job: str | None = None  # None: all jobs
    verifier: str | None = None  # only problems judged by this verifier
    workers: int | None = Field(default=None, ge=1)  # None: all cores
    vote: bool = False  # pseudo-labels by majority vote for problems without a reference
    executor: Literal["local", "ray"] = "local"  # ray: Ray tasks over shards (datagen.ray_exec)
    ray_address: str | None = None  # "auto", HOST:PORT; None: RAY_ADDRESS, else a local Ray for the run
    shard_rows: int | None = Field(default=None, ge=1)  # completions per Ray task; None: ray_exec.SHARD_ROWS


class CurateConfig(BaseModel):
    """`cotmill curate`: marks for duplicates, contamination and poor completions."""

    model_config = ConfigDict(extra="forbid")

    job: str | None = None  # None: all jobs
    decontaminate: list[str] = Field(default_factory=list)  # benchmark files
    text_field: str | None = None  # None: question, problem, prompt or text
    ngram: int = Field(default=defaults.NGRAM, ge=1)
    near_dup_threshold: float = Field(default=defaults.NEAR_DUP_THRESHOLD, gt=0, le=1)
    shingle: int = Field(default=defaults.SHINGLE, ge=1)
    min_tokens: int | None = Field(default=None, ge=0)
    max_tokens: int | None = Field(default=None, ge=1)
    max_repetition: float = Field(default=defaults.MAX_REPETITION, ge=0, le=1)
    require_think: bool = False
    executor: Literal["local", "ray"] = "local"  # ray: signing and benchmark matching as Ray tasks
    ray_address: str | None = None  # "auto", HOST:PORT; None: RAY_ADDRESS, else a local Ray for the run
    shard_rows: int | None = Field(default=None, ge=1)  # items per Ray task; None: ray_curate.SHARD_ROWS

    _split = field_validator("decontaminate", mode="before")(classmethod(lambda cls, v: _list(v)))

    def filters(self):
        from mixtures.filters import FilterConfig

        return FilterConfig(max_repetition=self.max_repetition, min_tokens=self.min_tokens,
                            max_tokens=self.max_tokens, require_think=self.require_think)  # fmt: skip


class ExportConfig(BaseModel):
    """`cotmill export`: a built mixture as training data. `as` is a Python keyword, so the
    field is `as_` (the key `as` is read too, as in the pipeline file)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    mixture: str
    format: str = defaults.EXPORT_FORMAT  # a registered export format (mixtures.export.FORMATS)
    as_: Literal["parquet", "jsonl", "hf"] = Field(default=defaults.EXPORT_WRITER, alias="as")
    out: str
    think_tags: bool = False
    min_pass_rate: float | None = None  # rl: None means > 0
    max_pass_rate: float | None = None  # rl: None means < 1
    overwrite: bool = False

    @field_validator("format")
    @classmethod
    def _format(cls, value: str) -> str:
        from mixtures.export import check_format  # plugins' formats too

        return check_format(value)  # an ExportError is a ValueError: pydantic names the key

    @model_validator(mode="after")
    def _rates(self) -> ExportConfig:
        low, high = self.min_pass_rate, self.max_pass_rate
        if low is not None and high is not None and low > high:
            raise ValueError(f"min_pass_rate {low} is above max_pass_rate {high}")
        return self


class EvalConfig(BaseModel):
    """`cotmill eval`: one model, or two for a before/after table."""

    model_config = ConfigDict(extra="forbid")

    model: list[str]  # one, or two for a before/after comparison
    data: str
    split: Literal["val", "train"] = "val"
    samples: int = Field(default=1, ge=1)
    limit: int | None = Field(default=None, ge=1)
    max_new_tokens: int = Field(default=256, ge=1)
    temperature: float | None = Field(default=None, ge=0)  # None: greedy for 1 sample, else 0.7
    batch_size: int = Field(default=16, ge=1)
    seed: int = 0
    precision: Literal["auto", "bf16", "fp32"] = "auto"
    workspace: str | None = None
    run: str | None = None  # two models: RUN-a and RUN-b
    out: str | None = None  # per-problem JSONL; two models: OUT-a, OUT-b

    @field_validator("model", mode="before")
    @classmethod
    def _one_or_two(cls, value):
        value = [value] if isinstance(value, str) else value
        if isinstance(value, (list, tuple)) and not 1 <= len(value) <= 2:
            raise ValueError("give one model, or two for a before/after comparison")
        return value

    def runs(self) -> list[tuple[str, str | None, str | None]]:
        """(model, run id, out file) per model: two models get RUN-a/RUN-b and OUT-a/OUT-b."""
        two = len(self.model) == 2
        return [(model, f"{self.run}-{tag}" if self.run and two else self.run,
                 _suffixed(self.out, tag) if self.out and two else self.out)
                for model, tag in zip(self.model, "ab")]  # fmt: skip


def _suffixed(path: str, tag: str) -> str:
    stem, dot, ext = path.rpartition(".")
    return f"{stem}-{tag}.{ext}" if dot and "/" not in ext else f"{path}-{tag}"
