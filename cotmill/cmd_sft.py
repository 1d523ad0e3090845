"""placeholder: replaced by the helper that owns cotmill/cmd_sft.py"""

import click


@click.command(name="sft")
def sft() -> None:
    """(not written yet)"""
    raise click.ClickException("not written yet")
