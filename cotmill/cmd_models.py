"""`cotmill models import`: a thin shell over `train.gguf_import.import_gguf`."""

from __future__ import annotations

import time

import click

from cotmill.options import UserError


@click.group()
def models() -> None:
    """Bring models from other formats into plain Hugging Face directories."""


@models.command(name="import")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--out", required=True, type=click.Path(file_okay=False),
              help="Directory to write (safetensors, config, tokenizer with chat template, generation config).")  # fmt: skip
@click.option("--dtype", type=click.Choice(["float32", "bfloat16", "float16"]), default="float32",
              show_default=True,
              help="Precision of the saved weights (GGUF weights are de-quantized to this).")  # fmt: skip
@click.option("--overwrite", is_flag=True, help="Replace --out if it exists and is not empty.")
def import_command(file, out, dtype, overwrite) -> None:
    """Import FILE, a GGUF model (llama.cpp's format), as a Hugging Face directory that
    every cotmill command loads: --teacher hf:OUT, train sft/grpo --model OUT, eval --model OUT.
    Needs the gguf package (pip install gguf)."""
    try:
        from transformers.utils import logging

        from train.gguf_import import GGUFImportError, import_gguf
    except ImportError as e:
        raise UserError(
            f"cotmill models import needs the training extras (pip install 'cotmill[train]'): {e}"
        ) from None
    logging.disable_progress_bar()
    start = time.monotonic()
    try:
        result = import_gguf(file, out, dtype=dtype, overwrite=overwrite)
    except GGUFImportError as e:
        raise UserError(str(e)) from None
    except OSError as e:
        raise UserError(f"{e.filename or out}: {e.strerror or e}") from None
    click.echo(
        f"imported {file} -> {result.out}: {result.architecture}, {result.parameters / 1e6:.1f}M parameters, "
        f"{result.dtype}, vocabulary {result.vocab_size:,}, context {result.context:,}, "
        f"chat template {'yes' if result.chat_template else 'no'} ({time.monotonic() - start:.0f} s)"
    )
