"""`cotmill train grpo`: a thin shell over `train.grpo.run_grpo`. Every flag is a field of
`train.grpo_config.GRPOConfig` (the source of truth: defaults shown in --help come from it) and a key of the `--config` YAML; flags given win
over the file, and `--resume` starts from the run's saved settings. torch loads only when the
command runs."""

from __future__ import annotations

import click

from cotmill.options import PRECISIONS, WORKSPACE, UserError, from_model
from train.grpo_config import GRPOConfig

_FLAGS = [
    click.option("--config", "config_file", type=click.Path(dir_okay=False),
                 help="YAML with the same keys as these flags (flags win)."),
    click.option("--model", help="Hugging Face model directory (or a LoRA adapter directory, e.g. an SFT run's final/)."),
    click.option("--data", help="An rl export directory (train.jsonl/parquet: prompt, reference, verifier) or one file."),
    click.option("--out", type=click.Path(file_okay=False), help="Run directory: checkpoints, final/, metrics."),
    click.option("--max-steps", type=int, help="GRPO steps."),
    click.option("--prompts-per-step", type=int, help="Prompts (groups) per step."),
    click.option("--group-size", type=int, help="Completions sampled per prompt (G)."),
    click.option("--max-new-tokens", type=int, help="Longest completion."),
    click.option("--max-prompt-tokens", type=int, help="Longer prompts are left out."),
    click.option("--temperature", type=float, help="Sampling temperature."),
    click.option("--top-p", type=float, help="Nucleus sampling."),
    click.option("--lr", type=float, help="Peak learning rate."),
    click.option("--warmup-steps", type=int, help="Linear warmup steps, then cosine."),
    click.option("--weight-decay", type=float, help="AdamW weight decay (not on biases and norms)."),
    click.option("--max-grad-norm", type=float, help="Gradient clipping norm; 0: none."),
    click.option("--lora-r", type=int, help="LoRA rank."),
    click.option("--lora-alpha", type=int, help="LoRA alpha."),
    click.option("--lora-dropout", type=float, help="LoRA dropout."),
    click.option("--target-modules", help="all-linear, or module names comma-separated."),
    click.option("--lora/--no-lora", default=None,
                 help="Train a LoRA adapter, or the full model (with --beta > 0 a frozen copy is kept as the reference)."),
    click.option("--fsdp", is_flag=True, default=None,
                 help="Under torchrun: shard a full fine-tune (--no-lora) over the processes (FSDP2)."),
    click.option("--beta", type=float, help="k3 KL weight against the adapter-disabled reference."),
    click.option("--epsilon-low", type=float, help="Lower clip of the ratio."),
    click.option("--epsilon-high", type=float, help="Upper clip of the ratio. [default: 0.28 for dapo, else --epsilon-low]"),
    click.option("--loss", type=click.Choice(["grpo", "dr_grpo", "dapo"]),
                 help="Loss aggregation: per-sequence mean, constant normaliser, or token-level."),
    click.option("--scale-rewards", type=click.Choice(["group", "batch", "none"]),
                 help="Divide advantages by the group's std, the batch's, or nothing."),
    click.option("--iterations", type=int, help="Optimiser steps per batch of rollouts (mu)."),
    click.option("--dynamic-sampling/--no-dynamic-sampling", default=None,
                 help="Keep only groups with mixed rewards; sample more prompts to refill the batch."),
    click.option("--max-sampling-rounds", type=int, help="Extra rounds dynamic sampling may draw."),
    click.option("--mask-truncated/--no-mask-truncated", default=None,
                 help="No loss on completions cut at --max-new-tokens."),
    click.option("--overlong-buffer", type=int,
                 help="Soft overlong penalty over the last N tokens before --max-new-tokens; 0: off."),
    click.option("--reward-weights", help="Weighted rewards: verifier, format, overlong."),
    click.option("--micro-batch-size", type=int, help="Completions per forward/backward; 0: all."),
    click.option("--precision", type=PRECISIONS,
                 help="auto: bf16 on a GPU that has it, else fp32."),
    click.option("--device", help="auto, cpu, cuda or cuda:N."),
    click.option("--vllm/--no-vllm", default=None, help="Sample with vLLM when installed on CUDA (LoRA runs)."),
    click.option("--save-every", type=int, help="Steps between checkpoints (and the last step)."),
    click.option("--sample-every", type=int, help="Steps between logged sample completions."),
    click.option("--resume", is_flag=True, default=None, help="Continue from the latest checkpoint in --out."),
    click.option("--seed", type=int, help="Seed of the adapter init, prompt order and sampling."),
    click.option("--run", "run_name", help="Run id in the runs/metrics tables. [default: grpo-OUT-TIME]"),
    WORKSPACE,
]  # fmt: skip


def _flags(func):
    for option in reversed(_FLAGS):
        func = option(func)
    return func


def _default_workspace(config):
    """Metrics go to the named workspace, else to the default one when it exists."""
    if config.workspace is not None:
        return config
    from datagen.store import DB_FILE, resolve_workspace

    default = resolve_workspace(None)
    if (default / DB_FILE).exists():
        config.workspace = str(default)
    return config


def _echo_step(step: int, values: dict[str, float], total: int) -> None:
    shown = [("reward", "reward/total_mean"), ("zero-std", "groups/zero_std_share"),
             ("trained", "train/nonzero_adv_completions"), ("len", "completion/length_mean"),
             ("trunc", "completion/truncated_share"), ("kl", "train/kl"), ("s", "time/step_s")]  # fmt: skip
    text = "  ".join(
        f"{label} {values.get(k, 0.0):.3g}" for label, k in shown if k in values or label == "trained"
    )
    click.echo(f"step {step}/{total}  {text}", err=True)


def _warn(text: str) -> None:
    click.echo(f"warning: {text}", err=True)


EPILOG = """\b
Each step prints a line on stderr:
  step N/M   the step and --max-steps
  reward     mean total reward of the step's completions
  zero-std   share of the groups drawn whose completions all got the same reward
  trained    completions with a non-zero advantage, the ones the reward trains; 0: the step
             changed nothing (a warning says so once, and the summary counts such steps)
  len        mean completion length in tokens
  trunc      share of the completions cut off at --max-new-tokens
  kl         KL to the reference (with --beta > 0)
  s          seconds the step took
Every value is also stored in the workspace's metrics table (and OUT/metrics.jsonl)."""


@from_model(GRPOConfig, rename={"run_name": "run"}, not_exposed=("logprob_chunk",))
@click.command(name="grpo", epilog=EPILOG)
@_flags
def grpo(config_file, run_name, **flags) -> None:
    """GRPO on an rl export with the verifiers as rewards: G samples per prompt, group-relative
    advantages, clipped ratio (separate low/high epsilon), grpo / dr_grpo / dapo loss, optional
    k3 KL against the adapter-disabled model, dynamic sampling; checkpoints and --resume; writes
    OUT/final."""
    overrides = {k: v for k, v in {**flags, "run": run_name}.items() if v is not None}
    from train.grpo_config import load_grpo_config

    # a CotmillError (a bad setting, export or model) is one line: see cotmill.cli
    config = _default_workspace(load_grpo_config(config_file, overrides))
    try:
        from train.data import describe_export
        from train.grpo import run_grpo
    except ImportError as e:
        raise UserError(
            f"cotmill train needs the training extras (pip install 'cotmill[train]'): {e}"
        ) from None
    from transformers.utils import logging

    logging.disable_progress_bar()  # "Loading weights" bars are noise beside our own lines
    from train.distributed import is_main_process

    try:
        if not is_main_process():  # under torchrun rank 0 alone prints
            run_grpo(config)
            return
        click.echo(describe_export(config.data), err=True)
        result = run_grpo(config, on_step=_echo_step, note=_warn)
    except OSError as e:
        raise UserError(f"cannot write {config.out}: {e.strerror or e}") from None
    reward = result.reward_mean
    click.echo(f"run {result.run}: {result.steps} steps, last reward mean "
               f"{'-' if reward is None else format(reward, '.4f')}, {result.trained_completions:,} completions trained")  # fmt: skip
    if result.idle_steps:
        click.echo(f"warning: {result.idle_steps} step(s) trained no completion (all rewards equal in every group)",
                   err=True)  # fmt: skip
    click.echo(f"final: {result.final}")
