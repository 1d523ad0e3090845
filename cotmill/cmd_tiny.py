"""placeholder: replaced by the helper that owns cotmill/cmd_tiny.py"""

import click


@click.command(name="tiny")
def tiny() -> None:
    """(not written yet)"""
    raise click.ClickException("not written yet")


@click.command(name="merge")
def merge() -> None:
    """(not written yet)"""
    raise click.ClickException("not written yet")
