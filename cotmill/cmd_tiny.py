"""`cotmill train tiny` and `cotmill train merge`: thin shells over `train.tiny.build_tiny`
and `train.model.merge_adapter`. torch and transformers load only when a command runs."""

from __future__ import annotations

import time
from pathlib import Path

import click

from cotmill.options import UserError

SIZES = ("tiny", "small", "0.5b")  # train.tiny.SIZES, named here so --help needs no import


def _quiet_transformers() -> None:
    from transformers.utils import logging

    logging.disable_progress_bar()  # "Loading weights" bars are noise in a one-shot command


def saved_parameters(model_dir: Path) -> int:
    """Parameters stored in the safetensors files (tied weights once), without loading them."""
    from math import prod

    from safetensors import safe_open

    total = 0
    for path in model_dir.glob("*.safetensors"):
        with safe_open(str(path), framework="pt") as f:
            total += sum(prod(f.get_slice(key).get_shape()) for key in f.keys())
    return total


def _corpus(workspace, seed: int) -> tuple[list[str], str]:
    from train.tiny import builtin_corpus, workspace_corpus

    if workspace is None:
        return builtin_corpus(seed=seed), "the built-in corpus"
    corpus = workspace_corpus(workspace)  # a WorkspaceError is one line: see cotmill.cli
    if len(corpus) <= len(builtin_corpus(n_per_task=0)):  # only the fixed wording
        raise UserError(f"workspace {workspace} has no problems or completions to train a tokenizer on")
    return corpus, f"workspace {workspace}"


@click.command(name="tiny")
@click.option(
    "--out", required=True, type=click.Path(file_okay=False), help="Directory to write the model to."
)
@click.option("--size", type=click.Choice(SIZES), default="tiny", show_default=True,
              help="tiny ~1M parameters (tests), small ~20M (CPU recipes), 0.5b Qwen2-0.5B's shape (GPU benchmarks).")  # fmt: skip
@click.option("--workspace", "-w", default=None,
              help="Train the tokenizer on this workspace's problems and completions [default: a built-in corpus "
                   "of every task's prompts and solutions].")  # fmt: skip
@click.option("--vocab-size", type=int, default=2048, show_default=True, help="Tokenizer vocabulary size.")
@click.option(
    "--max-position", type=int, default=2048, show_default=True, help="Longest sequence the model takes."
)
@click.option(
    "--seed", type=int, default=0, show_default=True, help="Seed of the weights and the built-in corpus."
)
def tiny(out: str, size: str, workspace, vocab_size: int, max_position: int, seed: int) -> None:
    """Build a small Qwen2-architecture model with random weights and a tokenizer trained here
    (byte-level BPE, one token per digit, ChatML chat template), saved in Hugging Face format."""
    started = time.monotonic()
    corpus, source = _corpus(workspace, seed)
    _quiet_transformers()
    from train.tiny import SIZES as SHAPES
    from train.tiny import build_tiny

    try:  # a ModelError (a vocab too small for the bytes) is one line: see cotmill.cli
        path = build_tiny(
            out, size, corpus=corpus, vocab_size=vocab_size, seed=seed, max_position=max_position
        )
    except OSError as e:
        raise UserError(f"cannot write {out}: {e.strerror or e}") from None
    shape = SHAPES[size]
    click.echo(
        f"built a {size} Qwen2 model: {saved_parameters(path):,} parameters "
        f"(hidden {shape['hidden_size']}, {shape['num_hidden_layers']} layers) in {time.monotonic() - started:.1f}s"
    )
    click.echo(f"tokenizer: {vocab_size:,} tokens, trained on {len(corpus):,} texts from {source}")
    click.echo(f"saved to {path}")


@click.command(name="merge")
@click.option("--adapter", required=True, type=click.Path(file_okay=False),
              help="A LoRA adapter directory (a run's final/ or a checkpoint).")  # fmt: skip
@click.option(
    "--out", required=True, type=click.Path(file_okay=False), help="Directory for the merged model."
)
@click.option("--base", default=None, help="Base model directory [default: the one the adapter records].")
def merge(adapter: str, out: str, base: str | None) -> None:
    """Merge a LoRA adapter into its base model and save a full model that from_pretrained loads."""
    _quiet_transformers()
    from train.model import adapter_base, merge_adapter

    try:
        base_path = adapter_base(adapter, base) if Path(adapter, "adapter_config.json").is_file() else None
        path = merge_adapter(adapter, out, base=base)
    except OSError as e:  # a ModelError is one line: see cotmill.cli
        raise UserError(f"cannot write {out}: {e.strerror or e}") from None
    # the adapter and its run are left as they were: say that the new model is a copy
    click.echo(f"wrote a merged model to {path}: base {base_path} + adapter {adapter} "
               f"({saved_parameters(path):,} parameters); the adapter itself is unchanged")  # fmt: skip
