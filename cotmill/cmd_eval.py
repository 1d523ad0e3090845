"""placeholder: replaced by the helper that owns cotmill/cmd_eval.py"""

import click


@click.command(name="eval")
def eval_command() -> None:
    """(not written yet)"""
    raise click.ClickException("not written yet")
