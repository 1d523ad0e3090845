"""The settings and result of a GRPO run (train.grpo runs it); kept apart so the CLI, the
pipeline and config checks import no torch. One pydantic model, as SFTConfig: the source
of truth for `cotmill train grpo` flags, `--config` YAML keys and the pipeline's grpo stage."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from verifiers.errors import CotmillError


class GRPOError(CotmillError, ValueError):
    """A GRPO run the user set up wrong (bad setting, nothing to resume, nothing to train)."""


class GRPOConfig(BaseModel):
    """Every setting of a GRPO run; `cotmill train grpo` flags and `--config` YAML keys have
    these names (dashes in YAML keys read as underscores)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    model: str  # HF model dir (or an adapter dir: trained on top of its base + adapter)
    data: str  # rl export dir or file
    out: str
    max_steps: int = Field(default=100, gt=0)
    prompts_per_step: int = Field(default=4, gt=0)
    group_size: int = Field(default=8, ge=2)  # G completions per prompt; advantages are relative to the group
    max_new_tokens: int = Field(default=256, gt=0)
    max_prompt_tokens: int = Field(default=1024, gt=0)  # longer prompts are left out of the pool
    temperature: float = Field(default=1.0, gt=0)  # GRPO samples from the policy: no greedy
    top_p: float = Field(default=1.0, gt=0, le=1)
    lr: float = Field(default=1e-5, gt=0)
    warmup_steps: int = Field(default=0, ge=0)
    weight_decay: float = Field(default=0.0, ge=0)
    max_grad_norm: float = Field(default=1.0, ge=0)  # 0: no clipping
    lora: bool = True  # False: the full model (with beta > 0 a frozen copy is the reference)
    lora_r: int = Field(default=16, ge=1)
    lora_alpha: int = Field(default=32, ge=1)
    # dropout would make the trained log-probs differ from the sampling policy's
    lora_dropout: float = Field(default=0.0, ge=0, lt=1)
    target_modules: str = "all-linear"
    fsdp: bool = False  # under torchrun: shard a full fine-tune over the processes (torch FSDP2)
    beta: float = Field(default=0.0, ge=0)  # k3 KL weight; 0 skips the reference pass
    epsilon_low: float = Field(default=0.2, ge=0)
    epsilon_high: float | None = Field(
        default=None, ge=0
    )  # None: 0.28 for dapo (clip-higher), else epsilon_low
    loss: Literal["grpo", "dr_grpo", "dapo"] = "dapo"
    scale_rewards: Literal["group", "batch", "none"] = "group"
    iterations: int = Field(default=1, gt=0)  # mu: optimiser steps per batch of rollouts
    dynamic_sampling: bool = False
    max_sampling_rounds: int = Field(
        default=3, ge=0
    )  # extra rounds dynamic sampling may draw to refill a batch
    mask_truncated: bool = False  # completions cut off at max_new_tokens get no loss
    overlong_buffer: int = Field(default=0, ge=0)  # soft overlong penalty over the last N tokens
    reward_weights: str = "verifier=1"
    seed: int = 0
    workspace: str | None = None
    save_every: int = Field(default=50, gt=0)
    sample_every: int = Field(default=10, gt=0)
    resume: bool = False
    run: str | None = None
    precision: Literal["auto", "bf16", "fp32"] = "auto"
    device: str = "auto"
    micro_batch_size: int = Field(default=0, ge=0)  # completions per forward/backward; 0 = the whole batch
    logprob_chunk: int = Field(default=1024, gt=0)
    vllm: bool = True  # sample with vLLM where it is installed on CUDA (LoRA runs only)

    @model_validator(mode="before")
    @classmethod
    def _no_lora(cls, data):
        # runs saved before `lora` replaced `no_lora` keep `no_lora` in their config.json,
        # which --resume reads; a YAML file may use either name (not both)
        if isinstance(data, dict) and "no_lora" in data:
            data = dict(data)
            no_lora = data.pop("no_lora")
            if "lora" in data and data["lora"] is not None and bool(data["lora"]) == bool(no_lora):
                raise ValueError(f"lora: {data['lora']} contradicts no_lora: {no_lora}; give lora alone")
            data.setdefault("lora", not no_lora if isinstance(no_lora, bool) else no_lora)
        return data

    @field_validator("reward_weights")
    @classmethod
    def _reward_weights(cls, value: str) -> str:
        # checked as the config is built (the reward registry: built-ins and plugins), so a
        # pipeline names a misspelt reward before its first stage, not after hours of them
        from train.rewards import parse_weights

        parse_weights(value)
        return value

    @model_validator(mode="after")
    def _consistent(self) -> GRPOConfig:
        if self.iterations > 1 and self.lora_dropout > 0 and self.lora:
            # old and new log-probs would see different dropout masks: the ratio leaves 1 at once
            raise ValueError(
                "lora_dropout must be 0 with iterations > 1 (the ratio would compare two dropout masks)"
            )
        if self.fsdp and self.lora:
            raise ValueError("fsdp shards a full fine-tune: give lora: false (--no-lora); a LoRA adapter "
                             "trains data-parallel under torchrun without fsdp")  # fmt: skip
        if self.overlong_buffer > self.max_new_tokens:
            raise ValueError(
                f"overlong_buffer {self.overlong_buffer} is longer than max_new_tokens {self.max_new_tokens}"
            )
        return self

    def eps_high(self) -> float:
        if self.epsilon_high is not None:
            return self.epsilon_high
        return 0.28 if self.loss == "dapo" else self.epsilon_low


def load_grpo_config(path, overrides: dict) -> GRPOConfig:
    """YAML file values first, then the overrides (command-line flags); errors name the file
    (or the command line) and the key, as load_sft_config's. With resume, the run's saved
    config.json fills in what neither gives, so `--out DIR --resume` continues the run."""
    from train.sft_config import load_run_config

    return load_run_config(GRPOConfig, path, overrides, _saved_keys)


def _saved_keys(stored: dict, given: dict) -> dict:
    """A resumed run's saved settings that GRPOConfig knows (old runs saved no_lora); the
    file's or a flag's lora choice wins over the saved one."""
    known = set(GRPOConfig.model_fields) | {"no_lora"}
    stored = {k: v for k, v in stored.items() if k in known}
    if "lora" in given or "no_lora" in given:
        stored.pop("lora", None), stored.pop("no_lora", None)
    return stored


@dataclass
class GRPOResult:
    run: str
    steps: int  # the run's last step (max_steps)
    final: Path
    reward_mean: float | None = None  # the last step's mean total reward
    # completions that got a loss, summed over this invocation's steps: 0 means nothing trained
    trained_completions: int = 0
    # steps of this invocation where no completion trained (every group's rewards equal)
    idle_steps: int = 0
    seconds: float = 0.0

    def summary(self) -> dict:
        """What the runs table's summary column holds."""
        return {"run": self.run, "steps": self.steps, "final": str(self.final), "reward_mean": self.reward_mean,
                "trained_completions": self.trained_completions, "idle_steps": self.idle_steps}  # fmt: skip
