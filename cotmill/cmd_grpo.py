"""placeholder: replaced by the helper that owns cotmill/cmd_grpo.py"""

import click


@click.command(name="grpo")
def grpo() -> None:
    """(not written yet)"""
    raise click.ClickException("not written yet")
