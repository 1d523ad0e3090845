"""Agreement with math-verify's own regression tests: (gold, prediction, expected verdict).

math-verify's repository keeps hundreds of such cases in its tests (tests/test_*.py, as
pytest parametrize tables). This reads every table named "gold, pred, expected" whose
test calls `compare_strings(gold, pred)` with no option other than the extraction targets
(cases that set a precision, strictness or set relations test library options, not
answers), runs ours on each, and prints the agreement and every case where we differ.
A gold that is a whole solution (boxed, or longer than 80 characters) is read with our
extraction first, since a cotmill reference is an answer, not a solution.

    git clone https://github.com/huggingface/Math-Verify   # anywhere
    python bench/math_verify_cases.py Math-Verify/tests [--quiet]
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from verifiers.math import extract, verify  # noqa: E402


def cases(tests: Path):
    for path in sorted(tests.glob("test_*.py")):
        tree = ast.parse(path.read_text())
        for fn in tree.body:
            if not isinstance(fn, ast.FunctionDef):
                continue
            calls = [
                n
                for n in ast.walk(fn)
                if isinstance(n, ast.Call) and ast.unparse(n.func) == "compare_strings"
            ]
            if not calls or len(calls[0].args) != 2 or any(k.arg != "match_types" for k in calls[0].keywords):
                continue  # a library option, or not a comparison test
            for dec in fn.decorator_list:
                if not (isinstance(dec, ast.Call) and ast.unparse(dec.func).endswith("parametrize")):
                    continue
                names = ast.literal_eval(dec.args[0])
                names = [n.strip() for n in (names.split(",") if isinstance(names, str) else names)]
                if names != ["gold", "pred", "expected"]:
                    continue
                try:
                    rows = ast.literal_eval(dec.args[1])
                except ValueError:
                    continue  # a table built by code
                for gold, pred, expected in rows:
                    yield f"{path.name}::{fn.name}", gold, pred, bool(expected)


def ours(gold: str, pred: str) -> bool:
    reference = extract(gold, ("last_math",)) if ("boxed" in gold or len(gold) > 80) else gold
    return verify(reference or gold, pred).passed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("tests", type=Path, help="the tests/ folder of a Math-Verify checkout")
    ap.add_argument("--quiet", action="store_true", help="only the totals")
    args = ap.parse_args()
    if not args.tests.is_dir():
        ap.error(f"{args.tests}: not a folder (clone https://github.com/huggingface/Math-Verify)")
    rows = list(cases(args.tests))
    if not rows:
        ap.error(f"{args.tests}: no gold/pred/expected tables found")
    differ = [(where, g, p, e) for where, g, p, e in rows if ours(g, p) != e]
    false_accepts = sum(1 for *_, e in differ if not e)
    print(f"{len(rows)} cases: ours agrees on {len(rows) - len(differ)} ({1 - len(differ) / len(rows):.1%}); "
          f"{len(differ)} differ, {false_accepts} of them accepted where math-verify rejects")  # fmt: skip
    if not args.quiet:
        for where, gold, pred, expected in differ:
            print(f"\n{where}  math-verify: {'equal' if expected else 'different'}")
            print(f"  gold: {gold[:200]!r}\n  pred: {pred[-200:]!r}")


if __name__ == "__main__":
    main()
