"""`cotmill train tiny|sft|grpo|merge|manifest`: thin shells over `train.*`. Each subcommand
lives in a module of its own (cmd_tiny, cmd_sft, cmd_grpo, cmd_recipe) and is added here."""

from __future__ import annotations

import click


@click.group()
def train() -> None:
    """Build tiny local models, LoRA SFT and GRPO with verifier rewards, merge adapters."""


from cotmill.cmd_tiny import merge, tiny  # noqa: E402

train.add_command(tiny)
train.add_command(merge)
from cotmill.cmd_sft import sft  # noqa: E402

train.add_command(sft)
from cotmill.cmd_grpo import grpo  # noqa: E402

train.add_command(grpo)
from cotmill.cmd_recipe import manifest  # noqa: E402

train.add_command(manifest)
