"""`cotmill train grpo`: a thin shell over `train.grpo.run_grpo`. Every flag is a field of
`train.grpo.GRPOConfig` (the source of truth) and a key of the `--config` YAML; flags given win
over the file, and `--resume` starts from the run's saved settings. torch loads only when the
command runs."""

from __future__ import annotations

import click

from cotmill.options import PRECISIONS, WORKSPACE, UserError

_FLAGS = [
    click.option("--config", "config_file", type=click.Path(dir_okay=False),
                 help="YAML with the same keys as these flags (flags win)."),
    click.option("--model", help="Hugging Face model directory (or a LoRA adapter directory, e.g. an SFT run's final/)."),
    click.option("--data", help="An rl export directory (train.jsonl/parquet: prompt, reference, verifier) or one file."),
    click.option("--out", type=click.Path(file_okay=False), help="Run directory: checkpoints, final/, metrics."),
    click.option("--max-steps", type=int, help="GRPO steps. [default: 100]"),
    click.option("--prompts-per-step", type=int, help="Prompts (groups) per step. [default: 4]"),
    click.option("--group-size", type=int, help="Completions sampled per prompt (G). [default: 8]"),
    click.option("--max-new-tokens", type=int, help="Longest completion. [default: 256]"),
    click.option("--max-prompt-tokens", type=int, help="Longer prompts are left out. [default: 1024]"),
    click.option("--temperature", type=float, help="Sampling temperature. [default: 1.0]"),
    click.option("--top-p", type=float, help="Nucleus sampling. [default: 1.0]"),
    click.option("--lr", type=float, help="Peak learning rate. [default: 1e-5]"),
    click.option("--warmup-steps", type=int, help="Linear warmup steps, then cosine. [default: 0]"),
    click.option("--max-grad-norm", type=float, help="Gradient clipping norm; 0: none. [default: 1]"),
    click.option("--lora-r", type=int, help="LoRA rank. [default: 16]"),
    click.option("--lora-alpha", type=int, help="LoRA alpha. [default: 32]"),
    click.option("--lora-dropout", type=float, help="LoRA dropout. [default: 0]"),
    click.option("--target-modules", help="all-linear, or module names comma-separated. [default: all-linear]"),
    click.option("--no-lora/--lora", "no_lora", default=None,
                 help="Train the full model (with --beta > 0 a frozen copy is kept as the reference), or a LoRA adapter. [default: --lora]"),
    click.option("--beta", type=float, help="k3 KL weight against the adapter-disabled reference. [default: 0]"),
    click.option("--epsilon-low", type=float, help="Lower clip of the ratio. [default: 0.2]"),
    click.option("--epsilon-high", type=float, help="Upper clip of the ratio. [default: 0.28 for dapo, else --epsilon-low]"),
    click.option("--loss", type=click.Choice(["grpo", "dr_grpo", "dapo"]),
                 help="Loss aggregation: per-sequence mean, constant normaliser, or token-level. [default: dapo]"),
    click.option("--scale-rewards", type=click.Choice(["group", "batch", "none"]),
                 help="Divide advantages by the group's std, the batch's, or nothing. [default: group]"),
    click.option("--iterations", type=int, help="Optimiser steps per batch of rollouts (mu). [default: 1]"),
    click.option("--dynamic-sampling/--no-dynamic-sampling", default=None,
                 help="Keep only groups with mixed rewards; sample more prompts to refill the batch. [default: off]"),
    click.option("--max-sampling-rounds", type=int, help="Extra rounds dynamic sampling may draw. [default: 3]"),
    click.option("--mask-truncated/--no-mask-truncated", default=None,
                 help="No loss on completions cut at --max-new-tokens. [default: off]"),
    click.option("--overlong-buffer", type=int,
                 help="Soft overlong penalty over the last N tokens before --max-new-tokens; 0: off. [default: 0]"),
    click.option("--reward-weights", help="Weighted rewards: verifier, format, overlong. [default: verifier=1]"),
    click.option("--micro-batch-size", type=int, help="Completions per forward/backward; 0: all. [default: 0]"),
    click.option("--precision", type=PRECISIONS,
                 help="auto: bf16 on a GPU that has it, else fp32. [default: auto]"),
    click.option("--device", help="auto, cpu, cuda or cuda:N. [default: auto]"),
    click.option("--vllm/--no-vllm", default=None, help="Sample with vLLM when installed on CUDA (LoRA runs). [default: on]"),
    click.option("--save-every", type=int, help="Steps between checkpoints (and the last step). [default: 50]"),
    click.option("--sample-every", type=int, help="Steps between logged sample completions. [default: 10]"),
    click.option("--resume", is_flag=True, default=None, help="Continue from the latest checkpoint in --out."),
    click.option("--seed", type=int, help="Seed of the adapter init, prompt order and sampling. [default: 0]"),
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
             ("len", "completion/length_mean"), ("kl", "train/kl"), ("s", "time/step_s")]  # fmt: skip
    text = "  ".join(f"{label} {values[k]:.3g}" for label, k in shown if k in values)
    click.echo(f"step {step}/{total}  {text}", err=True)


@click.command(name="grpo")
@_flags
def grpo(config_file, run_name, **flags) -> None:
    """GRPO on an rl export with the verifiers as rewards: G samples per prompt, group-relative
    advantages, clipped ratio (separate low/high epsilon), grpo / dr_grpo / dapo loss, optional
    k3 KL against the adapter-disabled model, dynamic sampling; checkpoints and --resume; writes
    OUT/final."""
    overrides = {k: v for k, v in {**flags, "run": run_name}.items() if v is not None}
    try:
        from datagen.store import WorkspaceError
        from train.data import DataError, describe_export
        from train.grpo import GRPOError, config_from, run_grpo
        from train.model import ModelError
    except ImportError as e:
        raise UserError(
            f"cotmill train needs the training extras (pip install 'cotmill[train]'): {e}"
        ) from None
    import warnings

    from transformers.utils import logging

    logging.disable_progress_bar()  # "Loading weights" bars are noise beside our own lines
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
    try:
        config = _default_workspace(config_from(config_file, overrides))
        click.echo(describe_export(config.data), err=True)
        summary = run_grpo(config, on_step=_echo_step)
    except (GRPOError, DataError, ModelError, WorkspaceError) as e:
        raise UserError(str(e)) from None
    except OSError as e:
        raise UserError(f"cannot write {flags.get('out')}: {e.strerror or e}") from None
    reward = summary.get("reward_mean")
    click.echo(f"run {summary['run']}: {summary['steps']} steps, last reward mean "
               f"{'-' if reward is None else format(reward, '.4f')}")  # fmt: skip
    click.echo(f"final: {summary['final']}")
