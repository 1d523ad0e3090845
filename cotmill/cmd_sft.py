"""`cotmill train sft`: a thin shell over `train.sft.run_sft`. Every flag is a field of
`train.sft_config.SFTConfig` (the source of truth: the defaults --help shows come from it) and a
key of the `--config` YAML; flags given win over the file. torch and transformers load only
when the command runs."""

from __future__ import annotations

import contextlib
import sys

import click

from cotmill.options import PRECISIONS, WORKSPACE, UserError, from_model
from train.sft_config import SFTConfig

_FLAGS = [
    click.option("--config", "config_file", type=click.Path(dir_okay=False),
                 help="YAML with the same keys as these flags (flags win)."),
    click.option("--model", help="Hugging Face model directory (or a LoRA adapter directory) to train."),
    click.option("--data", help="An sft export directory (train/val parquet or jsonl, or datasets) or one file."),
    click.option("--out", type=click.Path(file_okay=False), help="Run directory: checkpoints, final/, metrics."),
    click.option("--max-steps", type=int, help="Optimizer steps to train. [default: --epochs]"),
    click.option("--epochs", type=float, help="Passes over the train split when --max-steps is not given."),
    click.option("--lr", type=float, help="Peak learning rate."),
    click.option("--weight-decay", type=float, help="AdamW weight decay (not on biases and norms)."),
    click.option("--batch-size", type=int, help="Rows per micro-batch; a packed row holds several examples."),
    click.option("--grad-accum", type=int, help="Micro-batches per optimizer step."),
    click.option("--max-length", type=int, help="Tokens per row; longer examples are truncated."),
    click.option("--packing/--no-packing", default=None,
                 help="Pack examples into rows (attention kept within each example)."),
    click.option("--lora/--no-lora", default=None, help="Train a LoRA adapter, or the full model."),
    click.option("--lora-r", type=int, help="LoRA rank."),
    click.option("--lora-alpha", type=int, help="LoRA alpha."),
    click.option("--lora-dropout", type=float, help="LoRA dropout."),
    click.option("--target-modules", help="all-linear, or module names comma-separated (q_proj,v_proj)."),
    click.option("--qlora", is_flag=True, default=None, help="Load the base in 4-bit (needs CUDA and bitsandbytes)."),
    click.option("--fsdp", is_flag=True, default=None,
                 help="Under torchrun: shard a full fine-tune (--no-lora) over the processes (FSDP2)."),
    click.option("--precision", type=PRECISIONS,
                 help="auto: bf16 on a GPU that has it, else fp32."),
    click.option("--gradient-checkpointing/--no-gradient-checkpointing", default=None,
                 help="Recompute activations in backward. [default: on for CUDA]"),
    click.option("--device", help="auto, cpu, cuda or cuda:N."),
    click.option("--warmup-steps", type=int, help="Linear warmup steps. [default: --warmup-ratio]"),
    click.option("--warmup-ratio", type=float, help="Warmup as a share of all steps."),
    click.option("--min-lr-ratio", type=float, help="The cosine ends at this share of --lr."),
    click.option("--max-grad-norm", type=float, help="Gradient clipping norm."),
    click.option("--log-every", type=int, help="Steps between metric read-backs."),
    click.option("--eval-every", type=int, help="Steps between evaluations on the val split; 0: at the end."),
    click.option("--eval-samples", type=int,
                 help="Val problems for verifier accuracy (greedy); 0: eval loss only."),
    click.option("--eval-max-new-tokens", type=int, help="Longest completion when measuring accuracy."),
    click.option("--save-every", type=int, help="Steps between checkpoints; 0: at the end only."),
    click.option("--keep-checkpoints", type=int, help="Checkpoints kept."),
    click.option("--resume", is_flag=True, default=None, help="Continue from the latest checkpoint in --out."),
    click.option("--merge", is_flag=True, default=None, help="Also write out/merged: the adapter merged into the base."),
    click.option("--seed", type=int, help="Seed of the adapter init, data order and dropout."),
    click.option("--run", "run_name", help="Run id in the runs/metrics tables. [default: sft-OUT-TIME]"),
    WORKSPACE,
]  # fmt: skip


def _flags(func):
    for option in reversed(_FLAGS):
        func = option(func)
    return func


def _workspace(config):
    """Metrics go to the named workspace, else to the default one when it exists."""
    if config.workspace is not None:
        return config
    from datagen.store import DB_FILE, resolve_workspace

    default = resolve_workspace(None)
    if (default / DB_FILE).exists():
        return config.model_copy(update={"workspace": str(default)})
    return config


class _Progress:
    """A rich progress bar on stderr (off when stderr is not a terminal) plus notes."""

    def __init__(self):
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        from train.sft import SFTEvents

        self.console = Console(stderr=True)
        self.bar = Progress(TextColumn("[bold]sft"), BarColumn(), MofNCompleteColumn(),
                            TextColumn("{task.fields[info]}"), TimeRemainingColumn(),
                            console=self.console, disable=not sys.stderr.isatty())  # fmt: skip
        self.task, self.info = None, {}
        outer = self

        class Events(SFTEvents):
            def start(self, total_steps, start_step, info):
                click.echo(f"run {info['run']}: {info['examples']:,} examples in {info['rows']:,} rows "
                           f"({info['dropped']:,} too long), {info['val_rows']:,} val rows, "
                           f"{total_steps:,} steps, warmup {info['warmup']}", err=True)  # fmt: skip
                outer.task = outer.bar.add_task("sft", total=total_steps, completed=start_step, info="")

            def step(self, step, values):
                outer.info.update(values)
                shown = "  ".join(f"{k} {outer.info[k]:.4g}" for k in ("loss", "lr", "tokens_per_s", "eval_loss",
                                  "eval_accuracy") if k in outer.info)  # fmt: skip
                if outer.task is not None:
                    outer.bar.update(outer.task, completed=step, info=shown)

            def note(self, text):
                outer.console.print(f"note: {text}", markup=False, highlight=False, soft_wrap=True)

        self.events = Events()


def _summary(result) -> None:
    def fmt(value, spec=".4f"):
        return "-" if value is None else format(value, spec)

    click.echo(f"run {result.run}: {result.steps} steps, train loss {fmt(result.train_loss)}, "
               f"eval loss {fmt(result.eval_loss)}, eval accuracy {fmt(result.eval_accuracy, '.1%')}, "
               f"{result.tokens_per_s:,.0f} tokens/s")  # fmt: skip
    click.echo(f"final: {result.final}")
    if result.merged:
        click.echo(f"merged: {result.merged}")


@from_model(SFTConfig, rename={"run_name": "run"}, not_exposed=("eval_batch_size",))
@click.command(name="sft")
@_flags
def sft(config_file, run_name, **flags) -> None:
    """Supervised fine-tuning on an sft export: LoRA (or full), loss on assistant tokens, packed
    rows, warmup + cosine; eval loss and verifier accuracy on the val split; checkpoints and
    --resume; writes OUT/final (and OUT/merged with --merge)."""
    overrides = {k: v for k, v in {**flags, "run": run_name}.items() if v is not None}
    from train.sft_config import load_sft_config

    # a CotmillError (a bad setting, export or model) is one line: see cotmill.cli
    config = _workspace(load_sft_config(config_file, overrides))
    try:
        from train.data import describe_export
        from train.sft import run_sft
    except ImportError as e:
        raise UserError(
            f"cotmill train needs the training extras (pip install 'cotmill[train]'): {e}"
        ) from None
    from transformers.utils import logging

    logging.disable_progress_bar()  # "Loading weights" bars are noise beside our own
    from train.distributed import is_main_process

    main = is_main_process()  # under torchrun rank 0 alone prints
    progress = _Progress()
    try:
        if main:
            click.echo(describe_export(config.data), err=True)
        with progress.bar if main else contextlib.nullcontext():
            result = run_sft(config, progress.events)
    except OSError as e:
        raise UserError(f"cannot write {config.out}: {e.strerror or e}") from None
    if main:
        _summary(result)
