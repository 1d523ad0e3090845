"""The settings, hooks and result of an SFT run (train.sft runs it); kept apart so the CLI
and config checks import no torch."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from verifiers.errors import CotmillError


class SFTError(CotmillError, ValueError):
    """A run that cannot start or continue (bad config, nothing to resume, nothing to train)."""


class SFTConfig(BaseModel):
    """Every setting of an SFT run; `cotmill train sft` flags and `--config` YAML keys have
    these names (dashes in YAML keys read as underscores)."""

    model_config = ConfigDict(extra="forbid")

    model: str  # a Hugging Face model directory (or an adapter directory)
    data: str  # an sft export directory (or one file)
    out: str
    max_steps: int | None = Field(default=None, ge=1)  # None: train `epochs` epochs
    epochs: float = Field(default=1.0, gt=0)
    lr: float = Field(default=2e-4, gt=0)
    weight_decay: float = Field(default=0.0, ge=0)
    min_lr_ratio: float = Field(default=0.0, ge=0, le=1)  # the cosine ends at this share of lr
    warmup_steps: int | None = Field(default=None, ge=0)  # None: warmup_ratio of the steps
    warmup_ratio: float = Field(default=0.03, ge=0, le=1)
    max_grad_norm: float = Field(default=1.0, gt=0)
    batch_size: int = Field(default=8, ge=1)  # rows per micro-batch (a packed row holds several examples)
    grad_accum: int = Field(default=1, ge=1)
    max_length: int = Field(default=1024, ge=2)  # tokens per row
    packing: bool = True
    lora: bool = True  # False: full fine-tuning
    lora_r: int = Field(default=16, ge=1)
    lora_alpha: int = Field(default=32, ge=1)
    lora_dropout: float = Field(default=0.05, ge=0, lt=1)
    target_modules: str = "all-linear"  # or comma-separated module names, e.g. q_proj,v_proj
    qlora: bool = False
    fsdp: bool = False  # under torchrun: shard a full fine-tune over the processes (torch FSDP2)
    precision: Literal["auto", "bf16", "fp32"] = "auto"
    gradient_checkpointing: bool | None = None  # None: on for CUDA
    device: str = "auto"
    seed: int = 0
    log_every: int = Field(default=10, ge=1)  # steps between metric read-backs (one device sync each)
    eval_every: int = Field(default=0, ge=0)  # 0: evaluate at the end only
    eval_samples: int = Field(default=32, ge=0)  # val problems for verifier accuracy (greedy); 0: none
    eval_max_new_tokens: int = Field(default=256, ge=1)
    eval_batch_size: int = Field(default=16, ge=1)
    save_every: int = Field(default=0, ge=0)  # steps between checkpoints; 0: at the end only
    keep_checkpoints: int = Field(default=2, ge=1)
    resume: bool = False
    merge: bool = False
    workspace: str | None = None  # metrics go to its tables; sft rows' references come from it
    run: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> SFTConfig:
        if self.merge and not self.lora:
            raise ValueError("merge needs LoRA: a full fine-tune is saved as a full model already")
        if self.qlora and not self.lora:
            raise ValueError("qlora trains a LoRA adapter: it cannot be combined with lora: false")
        if self.fsdp and self.lora:
            raise ValueError("fsdp shards a full fine-tune: give lora: false (--no-lora); a LoRA adapter "
                             "trains data-parallel under torchrun without fsdp")  # fmt: skip
        return self


def load_sft_config(path, overrides: dict) -> SFTConfig:
    """YAML file values first, then the overrides (command-line flags); errors name the
    file (or the command line) and the key. With resume, the run's saved config.json fills
    in what neither gives, so `--out DIR --resume` continues the run as it was started."""
    return load_run_config(SFTConfig, path, overrides)


def load_run_config(model, path, overrides: dict, saved_keys=None):
    """A training command's `model` (SFTConfig, GRPOConfig) as load_sft_config reads it.
    `saved_keys(stored, given)`: what of a resumed run's config.json to keep (default all)."""
    from datagen.config import ConfigError, describe, read_yaml

    data = read_yaml(path) if path else {}
    data.update(overrides)
    if data.get("resume") and data.get("out"):
        saved = Path(data["out"]) / "config.json"
        try:
            stored = json.loads(saved.read_text())
        except FileNotFoundError:
            stored = {}
        except (OSError, ValueError) as e:
            raise ConfigError(f"{saved}: cannot read the run's config: {e}") from None
        if saved_keys is not None:
            stored = saved_keys(stored, data)
        data = {**stored, **data}
    try:
        return model(**data)
    except ValidationError as e:
        raise ConfigError(describe(e, str(path) if path else "command line")) from None


class SFTEvents:
    """Hooks for a front end (the CLI's progress bar); every method may be left as is."""

    def start(self, total_steps: int, start_step: int, info: dict) -> None: ...

    def step(self, step: int, values: dict[str, float]) -> None: ...

    def note(self, text: str) -> None: ...


@dataclass
class SFTResult:
    run: str
    steps: int
    final: Path
    merged: Path | None = None
    tokens: int = 0
    seconds: float = 0.0
    train_loss: float | None = None  # mean over the last logged window
    eval_loss: float | None = None
    eval_accuracy: float | None = None
    history: list[dict] = field(default_factory=list)  # per step: step, loss, lr, grad_norm, tokens_per_s

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else 0.0
