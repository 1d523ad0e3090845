"""`cotmill train manifest`: a thin shell over `train.recipe`."""

from __future__ import annotations

import click

from cotmill.options import WORKSPACE, UserError


def _seeds(value: str) -> list[int]:
    try:
        seeds = [int(part) for part in value.split(",") if part.strip()]
    except ValueError:
        raise click.BadParameter(f"expected seeds like 0,1,2, got {value!r}") from None
    if not seeds:
        raise click.BadParameter("give at least one seed")
    return seeds


@click.command()
@click.option("--recipe", required=True, help="Recipe name: the prefix of its runs (e.g. tiny-rl).")
@click.option("--dir", "directory", required=True, type=click.Path(file_okay=False),
              help="The recipe's output directory, holding seed-S/{greedy,sampled}-MODEL.jsonl.")  # fmt: skip
@click.option("--compare", "comparisons", multiple=True, metavar="BEFORE:AFTER",
              help="Models to compare, paired per problem (their MODEL names in the eval files). "
                   "Repeatable. [default: a:b]")  # fmt: skip
@click.option("--seeds", required=True, help="Seeds the recipe ran, comma-separated, e.g. 0,1,2.")
@click.option("--wall-s", type=float, help="Wall time of the whole recipe in seconds.")
@click.option("--setting", "settings", multiple=True, help="A setting of the recipe, KEY=VALUE. Repeatable.")
@click.option("--readme", type=click.Path(dir_okay=False, exists=True),
              help="Regenerate this file's table between <!-- recipe:NAME:start/end --> markers.")  # fmt: skip
@WORKSPACE
def manifest(recipe, directory, seeds, wall_s, settings, comparisons, readme, workspace) -> None:
    """Write a recipe's manifest (commit, versions, threads, machine, settings, wall time,
    results per seed and their spread) to DIR/manifest.json, the workspace and `runs`,
    and print the table the README shows."""
    from train.recipe import build_manifest, store_manifest, table, update_readme

    pairs = {}
    for item in settings:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UserError(f"--setting expects KEY=VALUE, got {item!r}")
        pairs[key] = value
    pairs_compared = []
    for item in comparisons or ("a:b",):
        before, sep, after = item.partition(":")
        if not sep or not before or not after or before == after:
            raise UserError(f"--compare expects BEFORE:AFTER (two different models), got {item!r}")
        pairs_compared.append((before, after))
    # a RecipeError or WorkspaceError is one line: see cotmill.cli
    built = build_manifest(recipe, workspace, directory, _seeds(seeds), wall_s, pairs, pairs_compared)
    path = store_manifest(built, workspace, directory)
    if readme:
        update_readme(readme, built)
    click.echo(table(built))
    click.echo(f"manifest: {path}" + (f"; table regenerated in {readme}" if readme else ""))
