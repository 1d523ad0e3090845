"""The mixture spec: one pydantic model that a YAML file maps onto one to one.

    name: demo-mix
    total: 600                  # examples; or `tokens: 2000000`
    ratios: {math: 0.5, code: 0.3, logic: 0.2}
    within: {math: {by: difficulty, weights: {1: 0.2, 3: 0.3, 5: 0.5}}}
    max_per_problem: 1
    max_upsample: 1.0
    temperature: 1.0
    split: {val: 0.1}
    seed: 7
    on_shortfall: error         # or redistribute
    exclude: [sft-mix]          # leave out every problem in these built mixtures
    jobs: [star-sample]         # only completions of these generate jobs [default: all]
    exclude_jobs: [star-sample] # leave out every problem these jobs answered (a held-out set)
    verified: true              # false: passing or not (an unverified control, as STaR compares)

Ratios and weights must each sum to 1 (within 0.001): a typo that silently
renormalised would change the mixture without a word.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from datagen.config import ConfigError, describe, read_yaml

SUM_TOLERANCE = 1e-3


class SpecError(ConfigError):
    """A bad mixture spec: the message names the file and the key."""


def _check_sum(values: dict, what: str) -> None:
    if not values:
        raise ValueError(f"{what} must name at least one entry")
    if any(v < 0 for v in values.values()):
        raise ValueError(f"{what} must not be negative")
    total = sum(values.values())
    if abs(total - 1.0) > SUM_TOLERANCE:
        raise ValueError(f"{what} sum to {total:g}, expected 1")


class Within(BaseModel):
    """How one domain's share is split: by problem difficulty level (1-5) or by task.
    Items whose level or task is not named get no share."""

    model_config = ConfigDict(extra="forbid")

    by: Literal["difficulty", "task"]
    weights: dict[str, float]

    @field_validator("weights", mode="before")
    @classmethod
    def _keys_as_text(cls, value):
        # YAML reads `{1: 0.2}` with int keys; buckets are named by text throughout
        return {str(k): v for k, v in value.items()} if isinstance(value, dict) else value

    @model_validator(mode="after")
    def _valid(self) -> Within:
        _check_sum(self.weights, "weights")
        if self.by == "difficulty":
            bad = [k for k in self.weights if not (k.isdigit() and 1 <= int(k) <= 5)]
            if bad:
                raise ValueError(f"difficulty levels are 1-5, got {', '.join(bad)}")
        return self


class Split(BaseModel):
    model_config = ConfigDict(extra="forbid")

    val: float = Field(default=0.0, ge=0, lt=1)


class MixSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    total: int | None = Field(default=None, ge=1)  # examples
    tokens: int | None = Field(default=None, ge=1)  # or a token budget (prompt + completion tokens)
    ratios: dict[str, float]
    within: dict[str, Within] = Field(default_factory=dict)
    max_per_problem: int = Field(default=1, ge=1)  # distinct completions of one problem
    max_upsample: float = Field(default=1.0, ge=1.0)  # >1: a bucket may repeat items, up to this factor
    temperature: float = Field(default=1.0, gt=0)  # over sources within a bucket; 1 = proportional
    split: Split = Field(default_factory=Split)
    seed: int = 0
    on_shortfall: Literal["error", "redistribute"] = "error"
    # problems already in these mixtures (any split) are left out, e.g. an RL pool that
    # must not repeat the SFT data or its val split
    exclude: list[str] = Field(default_factory=list)
    # only completions of these generate jobs (`completions.job`); empty: every job
    jobs: list[str] = Field(default_factory=list)
    # problems any of these jobs has a completion for are left out: a held-out set that no
    # sampling job has seen, even the problems it got wrong (which no mixture holds)
    exclude_jobs: list[str] = Field(default_factory=list)
    # false: completions pass or fail alike (curation's other marks still apply), the control
    # that shows what the verifier adds (examples/smollm2_star.sh trains on both)
    verified: bool = True

    @field_validator("ratios")
    @classmethod
    def _ratios(cls, value: dict[str, float]) -> dict[str, float]:
        _check_sum(value, "ratios")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> MixSpec:
        if (self.total is None) == (self.tokens is None):
            raise ValueError("give exactly one of total (examples) or tokens (a token budget)")
        unknown = [d for d in self.within if d not in self.ratios]
        if unknown:
            raise ValueError(f"within names domain(s) without a ratio: {', '.join(unknown)}")
        if self.name in self.exclude:
            # a rebuild would leave out the problems of its own previous build
            raise ValueError(f"exclude names the mixture itself ({self.name})")
        return self

    @property
    def budget(self) -> int:
        return self.total if self.total is not None else self.tokens

    @property
    def unit(self) -> str:
        return "examples" if self.total is not None else "tokens"


def parse_spec(data: dict, where: str) -> MixSpec:
    try:
        return MixSpec(**data)
    except ValidationError as e:
        raise SpecError(describe(e, where)) from None


def load_spec(path: str | Path) -> MixSpec:
    try:
        data = read_yaml(path)
    except ConfigError as e:
        raise SpecError(str(e)) from None
    return parse_spec(data, str(path))
