"""Math answer checking: ours (verifiers.math) versus math-verify, same pairs, same run.

Two mixes, each timed on its own (goals: ours at least 30x math-verify's pairs/s on the
GSM8K mix, at least 20x on the algebra mix):
- gsm8k: the GSM8K pairs below;
- algebra: our procedural tasks and the MATH-style pairs, plus a quarter of pairs that
  need algebraic equivalence (factored against expanded polynomials in one or two
  variables, rational functions against their simplified form, sums of fractions), right
  and wrong, each label checked with sympy when the pair is made.
Then, with --real W (a cotmill workspace whose completions a real model wrote), both
judge every stored completion against its problem's reference, and the bench prints the
agreement and a table of the cases where they differ, with who is right where a hand
label exists (bench/verify_math_labels.jsonl, keyed by reference and response).

The pairs (every pair has the label a careful grader would give):
- GSM8K test: each of the 1319 reference solutions, without its calculator
  annotations, ends in the gold answer and, separately, in a wrong one, in six
  ways of stating it ("The answer is N.", "#### N", \\boxed{N}, "$1,234$",
  "\\boxed{\\$N}", or just a last sentence "... N dollars.").
- Our procedural math tasks: the builtin teacher's worked solution with the
  reference boxed, the same answer written another way (LaTeX fractions and
  radicals via sympy.latex, roots in the other order, tuples with \\left( \\right),
  prices with a dollar sign), and a wrong answer (one integer changed).
- MATH-style answers written by hand in many forms, right and wrong (the
  categories of the verifier: separators, decimals, fractions, mixed numbers,
  radicals, pi and e, percent, degrees, units, choice letters, equations, tuples,
  sets, intervals, unions, matrices, complex numbers, root lists, expressions).

math-verify is called gold first, as its README says: verify(parse(gold), parse(response)),
the gold wrapped in \\boxed{} (falling back to the bare text when that parses to
nothing; of the ways tried this one scored best for it), each gold parsed once
(ours caches its parse of a reference as well). Throughput counts extraction and
comparison for both, after both have warmed up. Hostile answers are timed
separately (they are not part of a realistic mix).

    python bench/verify_math.py [--gsm8k PATH] [--per-task 40] [--quiet] [--real W]

The real completions the hand labels cover (SmolLM2-135M-Instruct, `make smollm2`): 128 GSM8K
replies, and the 800 addition samples of `make real-rl` (its smollm2-star-workspace):
    cotmill generate --workspace W --job real-gsm8k --teacher hf:models/SmolLM2-135M-Instruct \
      --source ../shared/data/benchmarks/gsm8k_test.jsonl --preset gsm8k --limit 96 --samples 2 \
      --temperature 0.7 --max-tokens 256 --precision bf16 --seed 3    # stopped at 128 replies
    python bench/verify_math.py --real W --real smollm2-star-workspace
Replies of another run or machine differ (bf16 sampling) and show as unlabelled.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import re
import sys
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import SimpleNamespace

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

try:
    from math_verify import parse as mv_parse
    from math_verify import verify as mv_verify
except ImportError:
    print("bench/verify_math.py: math-verify is not installed; skipping.")
    print("  install it with: pip install -e '.[bench]'   (or: pip install math-verify)")
    sys.exit(0)

import verifiers  # noqa: E402
from verifiers.math import clear_caches, verify, warm_up  # noqa: E402

GSM8K = REPO.parent / "shared" / "data" / "benchmarks" / "gsm8k_test.jsonl"


# (category, gold, answer as written in the response, label)
# fmt: off
MATH_STYLE = [
    ("integer", "1000", "1,000", 1), ("integer", "1000", "1{,}000", 1), ("integer", "1000", "1\\,000", 1),
    ("integer", "10000", "10,000", 1), ("integer", "1000", "100", 0), ("integer", "1000", "1,001", 0),
    ("integer", "-267", "-267", 1), ("integer", "-267", "267", 0), ("integer", "42", "42.0", 1),
    ("integer", "42", "42.5", 0), ("integer", "7", "07", 1), ("integer", "1000000", "10^6", 1),
    ("decimal", "12.75", "12.750", 1), ("decimal", "12.75", "\\frac{51}{4}", 1), ("decimal", "12.75", "12.7", 0),
    ("decimal", "0.5", "\\frac12", 1), ("decimal", "0.5", ".5", 1), ("decimal", "3.14", "\\pi", 0),
    ("decimal", "2.5", "2.50", 1), ("decimal", "2.5", "25", 0), ("decimal", "0.05", "\\frac{1}{20}", 1),
    ("fraction", "\\frac{1}{2}", "0.5", 1), ("fraction", "\\frac{1}{2}", "1/2", 1),
    ("fraction", "\\frac{1}{2}", "\\dfrac{1}{2}", 1), ("fraction", "\\frac{1}{2}", "\\tfrac12", 1),
    ("fraction", "\\frac{1}{2}", "\\frac{2}{4}", 1), ("fraction", "\\frac{1}{2}", "\\frac{1}{3}", 0),
    ("fraction", "-\\frac{54}{7}", "\\frac{-54}{7}", 1), ("fraction", "-\\frac{54}{7}", "-54/7", 1),
    ("fraction", "-\\frac{54}{7}", "\\frac{54}{7}", 0), ("fraction", "\\frac{7}{2}", "3\\frac{1}{2}", 1),
    ("fraction", "\\frac{7}{2}", "3 1/2", 1), ("fraction", "\\frac{7}{2}", "3.5", 1),
    ("fraction", "\\frac{7}{2}", "\\frac{2}{7}", 0), ("fraction", "\\frac{1}{3}", "0.33", 0),
    ("fraction", "\\frac{1}{3}", "0.3333", 0), ("fraction", "2\\frac{1}{4}", "\\frac{9}{4}", 1),
    ("fraction", "2\\frac{1}{4}", "2.25", 1), ("fraction", "2\\frac{1}{4}", "\\frac{1}{2}", 0),
    ("radical", "2\\sqrt{2}", "\\sqrt{8}", 1), ("radical", "2\\sqrt{2}", "2 \\sqrt 2", 1),
    ("radical", "2\\sqrt{2}", "\\sqrt{2}", 0), ("radical", "\\frac{\\sqrt{3}}{2}", "\\frac{1}{2}\\sqrt{3}", 1),
    ("radical", "\\frac{\\sqrt{3}}{2}", "\\sqrt{3}/2", 1), ("radical", "\\frac{\\sqrt{3}}{2}", "\\frac{\\sqrt{2}}{2}", 0),
    ("radical", "\\frac{\\sqrt{2}}{2}", "\\frac{1}{\\sqrt{2}}", 1), ("radical", "3\\sqrt{5}", "\\sqrt{45}", 1),
    ("radical", "\\sqrt[3]{2}", "2^{1/3}", 1), ("radical", "5+2\\sqrt{6}", "(\\sqrt{2}+\\sqrt{3})^2", 1),
    ("radical", "\\sqrt{2}", "1.414", 0), ("radical", "4\\sqrt{3}", "4\\sqrt{2}", 0),
    ("radical", "\\frac{-9-\\sqrt{73}}{4}", "-\\frac{9}{4}-\\frac{\\sqrt{73}}{4}", 1),
    ("radical", "12\\sqrt{2}", "\\sqrt{288}", 1), ("radical", "12\\sqrt{2}", "\\sqrt{289}", 0),
    ("pi-e", "2\\pi", "2 \\pi", 1), ("pi-e", "2\\pi", "\\pi \\cdot 2", 1), ("pi-e", "\\frac{\\pi}{4}", "\\pi/4", 1),
    ("pi-e", "\\frac{\\pi}{4}", "0.785", 0), ("pi-e", "\\frac{\\pi}{4}", "\\frac{\\pi}{2}", 0),
    ("pi-e", "36\\pi", "36\\pi \\text{ cm}^2", 1), ("pi-e", "e^2", "e^{2}", 1), ("pi-e", "e^2", "\\exp(2)", 1),
    ("pi-e", "e^2", "2e", 0), ("pi-e", "100\\pi", "100\u03c0", 1), ("pi-e", "\\frac{4}{3}\\pi", "\\frac{4\\pi}{3}", 1),
    ("percent", "10\\%", "10", 1), ("percent", "10\\%", "10\\%", 1), ("percent", "10\\%", "0.1", 1),
    ("percent", "10\\%", "1\\%", 0), ("percent", "25", "25\\%", 1), ("percent", "0.25", "25\\%", 1),
    ("percent", "25\\%", "0.025", 0), ("percent", "40", "40 percent", 1), ("percent", "12.5\\%", "\\frac{1}{8}", 1),
    ("percent", "20\\%", "25\\%", 0),
    ("degree", "90^\\circ", "90", 1), ("degree", "90^\\circ", "90^{\\circ}", 1), ("degree", "90^\\circ", "90\u00b0", 1),
    ("degree", "90", "90^\\circ", 1), ("degree", "90^\\circ", "45^\\circ", 0), ("degree", "60", "60 degrees", 1),
    ("degree", "135^\\circ", "135", 1), ("degree", "135^\\circ", "45", 0),
    ("units", "5\\text{ cm}", "5", 1), ("units", "5", "5\\text{ cm}", 1), ("units", "5", "5 \\mbox{cm}", 1),
    ("units", "18", "\\$18", 1), ("units", "18", "18 \\text{ dollars}", 1), ("units", "18", "\\$18.00", 1),
    ("units", "18", "19 \\text{ dollars}", 0), ("units", "12", "12 \\text{ inches}", 1),
    ("units", "4", "4 \\text{ km/h}", 1), ("units", "24", "24\\text{ square units}", 1),
    ("units", "\\$32", "32", 1), ("units", "9\\text{ m}^2", "9", 1), ("units", "9\\text{ m}^2", "8", 0),
    ("units", "6", "6\\text{ hours}", 1), ("units", "6", "7\\text{ hours}", 0),
    ("choice", "\\text{(C)}", "C", 1), ("choice", "\\text{(C)}", "(C)", 1), ("choice", "\\text{(C)}", "\\text{(C)}", 1),
    ("choice", "\\text{(C)}", "c", 1), ("choice", "\\text{(C)}", "B", 0), ("choice", "(B)", "\\textbf{(B)}", 1),
    ("choice", "D", "(D) 24", 1), ("choice", "D", "(E)", 0), ("choice", "\\text{(A)}", "\\text{A}", 1),
    ("choice", "\\text{(E)}", "\\textbf{(E) }2\\sqrt{2}", 1), ("choice", "\\text{(E)}", "\\textbf{(D) }2", 0),
    ("equation", "x=3", "3", 1), ("equation", "x=3", "x = 3", 1), ("equation", "x=3", "3 = x", 1),
    ("equation", "x=3", "x=4", 0), ("equation", "3", "x = 3", 1), ("equation", "3", "x=4", 0),
    ("equation", "y=2x+1", "2x+1=y", 1), ("equation", "y=2x+1", "y=1+2x", 1), ("equation", "y=2x+1", "2x+1", 1),
    ("equation", "y=2x+1", "y = 2x - 1", 0), ("equation", "y = -\\frac{1}{2}x + 3", "x + 2y = 6", 1),
    ("equation", "x^2+y^2=25", "x^2 + y^2 - 25 = 0", 1), ("equation", "x^2+y^2=25", "x^2+y^2=5", 0),
    ("equation", "2x+3y=6", "y = 2 - \\frac{2}{3}x", 1), ("equation", "y=3x-5", "y=3x+5", 0),
    ("equation", "-\\frac{3}{2}", "x=-\\frac32", 1), ("equation", "k=4", "k = 2^2", 1),
    ("tuple", "(8, 2)", "(8,2)", 1), ("tuple", "(8, 2)", "(2, 8)", 0), ("tuple", "(8, 2)", "x=8, y=2", 1),
    ("tuple", "(8,2)", "(x, y) = (8, 2)", 1), ("tuple", "\\left( 3, \\frac{\\pi}{2} \\right)", "(3, \\frac{\\pi}{2})", 1),
    ("tuple", "\\left( 3, \\frac{\\pi}{2} \\right)", "\\left(3, \\frac{\\pi}{4}\\right)", 0),
    ("tuple", "(1, -2, 3)", "(1,-2,3)", 1), ("tuple", "(1, -2, 3)", "(1, 2, 3)", 0),
    ("tuple", "(-\\frac{1}{2}, 4)", "(-0.5, 4)", 1), ("tuple", "\\left(\\frac{3}{2}, -1\\right)", "(1.5,-1)", 1),
    ("tuple", "(2\\sqrt{2}, \\frac{\\pi}{4})", "(\\sqrt{8}, \\pi/4)", 1), ("tuple", "(6, -1)", "(6, 1)", 0),
    ("set", "\\{1, 2\\}", "\\{2, 1\\}", 1), ("set", "\\{1,2\\}", "\\{1,2,3\\}", 0), ("set", "\\{1,2\\}", "1, 2", 1),
    ("set", "\\{-1, 1\\}", "\\{1\\}", 0), ("set", "\\emptyset", "\\varnothing", 1), ("set", "\\emptyset", "\\{\\}", 1),
    ("set", "\\{\\frac{1}{2}, 3\\}", "\\{3, 0.5\\}", 1), ("set", "\\{\\frac{1}{2}, 3\\}", "\\{3, 2\\}", 0),
    ("interval", "[-2, 7)", "[-2, 7)", 1), ("interval", "[-2, 7)", "[-2, 7]", 0), ("interval", "[-2, 7)", "(-2, 7)", 0),
    ("interval", "(-\\infty, 3]", "(-\\infty,3]", 1), ("interval", "(-\\infty, 3]", "x \\le 3", 1),
    ("interval", "(-\\infty, 3]", "(-\\infty, 3)", 0), ("interval", "(0, \\infty)", "(0,\\infty)", 1),
    ("interval", "[2, 5]", "2 \\le x \\le 5", 1), ("interval", "[2,5]", "[2, 5.0]", 1), ("interval", "[2,5]", "[2,6]", 0),
    ("interval", "(-3, \\infty)", "x > -3", 1), ("interval", "(-3, \\infty)", "x \\geq -3", 0),
    ("union", "(-\\infty, -1) \\cup (1, \\infty)", "(1, \\infty) \\cup (-\\infty, -1)", 1),
    ("union", "(-\\infty, -1) \\cup (1, \\infty)", "(-\\infty, -1] \\cup [1, \\infty)", 0),
    ("union", "[0,1] \\cup [2,3]", "[0,1]\\cup[2,3]", 1), ("union", "(-\\infty,0)\\cup(0,\\infty)", "(-\\infty, 0) U (0, \\infty)", 1),
    ("union", "(-\\infty, 2) \\cup (3, \\infty)", "(-\\infty, 2) \\cup (4, \\infty)", 0),
    ("matrix", "\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}", "\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}", 1),
    ("matrix", "\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}", "\\begin{bmatrix} 1 & 2 \\\\ 3 & 4 \\end{bmatrix}", 1),
    ("matrix", "\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}", "\\begin{pmatrix} 1 & 3 \\\\ 2 & 4 \\end{pmatrix}", 0),
    ("matrix", "\\begin{pmatrix} -1 \\\\ 2 \\end{pmatrix}", "\\begin{pmatrix} -1 \\\\ 2 \\end{pmatrix}", 1),
    ("matrix", "\\begin{pmatrix} \\frac{1}{2} \\\\ 2 \\end{pmatrix}", "\\begin{pmatrix} 0.5 \\\\ 2 \\end{pmatrix}", 1),
    ("matrix", "\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}", "\\begin{pmatrix} 2 \\\\ 1 \\end{pmatrix}", 0),
    ("matrix", "\\begin{pmatrix} 2 & 0 \\\\ 0 & 2 \\end{pmatrix}", "\\begin{pmatrix} 2 & 0 \\\\ 0 & -2 \\end{pmatrix}", 0),
    ("complex", "3+4i", "3 + 4i", 1), ("complex", "3+4i", "4i + 3", 1), ("complex", "3+4i", "3-4i", 0),
    ("complex", "-1+i", "i - 1", 1), ("complex", "\\frac{1}{2} - \\frac{\\sqrt{3}}{2}i", "\\frac{1 - i\\sqrt{3}}{2}", 1),
    ("complex", "2i", "2 i", 1), ("complex", "2i", "-2i", 0), ("complex", "1", "i^4", 1), ("complex", "-i", "i^3", 1),
    ("complex", "5-12i", "(3-2i)^2", 1), ("complex", "5-12i", "(3+2i)^2", 0),
    ("roots", "-2, 3", "3, -2", 1), ("roots", "-2, 3", "-2, 3", 1), ("roots", "-2, 3", "x = -2 \\text{ or } x = 3", 1),
    ("roots", "-2, 3", "-2", 0), ("roots", "-2, 3", "2, -3", 0), ("roots", "-2, 3", "\\{-2, 3\\}", 1),
    ("roots", "1 \\pm \\sqrt{2}", "1 + \\sqrt{2}, 1 - \\sqrt{2}", 1), ("roots", "1 \\pm \\sqrt{2}", "1+\\sqrt{2}", 0),
    ("roots", "\\frac{-3 \\pm \\sqrt{5}}{2}", "\\frac{-3-\\sqrt5}{2}, \\frac{-3+\\sqrt5}{2}", 1),
    ("roots", "-1, 2, 5", "5, 2, -1", 1), ("roots", "-1, 2, 5", "-1, 2", 0), ("roots", "1, 1, 2", "1, 2", 0),
    ("expression", "2x+2", "2(x+1)", 1), ("expression", "x^2-1", "(x-1)(x+1)", 1), ("expression", "x^2-1", "(x-1)^2", 0),
    ("expression", "\\frac{x+1}{x-1}", "\\frac{1+x}{x-1}", 1), ("expression", "\\frac{x+1}{x-1}", "\\frac{x-1}{x+1}", 0),
    ("expression", "6x^2 + 4x", "2x(3x+2)", 1), ("expression", "\\sin^2 x + \\cos^2 x", "1", 1),
    ("expression", "\\ln 8", "3\\ln 2", 1), ("expression", "\\log_2 8", "3", 1), ("expression", "a^2b", "ba^2", 1),
    ("expression", "\\frac{n(n+1)}{2}", "\\frac{n^2+n}{2}", 1), ("expression", "\\binom{5}{2}", "10", 1),
    ("expression", "5!", "120", 1), ("expression", "2^{10}", "1024", 1), ("expression", "2^{10}", "1000", 0),
    ("expression", "\\frac{3}{4}x", "0.75x", 1), ("expression", "x^3", "x^2", 0), ("expression", "\\sqrt{x}", "x^{1/2}", 1),
    ("expression", "\\frac{1}{x^2}", "x^{-2}", 1), ("expression", "3^{x+1}", "3 \\cdot 3^x", 1),
    ("text", "\\text{odd}", "odd", 1), ("text", "\\text{odd}", "\\text{even}", 0), ("text", "\\text{Sunday}", "Sunday", 1),
    ("text", "\\text{Devon}", "\\text{Devon}", 1), ("text", "\\text{Devon}", "Evan", 0),
    # a second batch: forms seen in MATH solutions and model outputs
    ("fraction", "\\frac{5}{3}", "1\\frac{2}{3}", 1), ("fraction", "\\frac{1}{6}", "0.1\\overline{6}", 1),
    ("fraction", "-\\frac{1}{3}", "\\frac{-1}{3}", 1), ("fraction", "\\frac{3}{2}", "\\dfrac32", 1),
    ("fraction", "1/4", "\\frac14", 1), ("integer", "3,\\!000", "3000", 1), ("integer", "0", "-0", 1),
    ("integer", "2^{100}", "1267650600228229401496703205376", 1), ("integer", "1 \\times 10^{6}", "1000000", 1),
    ("integer", "1", "1.0000", 1), ("integer", "1", "0.9999", 0), ("integer", "52", "52.00", 1),
    ("base", "1011_2", "1011_{2}", 1), ("base", "1011_2", "1010_2", 0),
    ("radical", "\\dfrac{\\sqrt{6}}{3}", "\\sqrt{\\frac{2}{3}}", 1), ("radical", "-\\frac{\\sqrt{2}}{2}", "-\\frac{1}{\\sqrt2}", 1),
    ("radical", "\\sqrt{3}+1", "1+\\sqrt3", 1), ("radical", "4", "\\sqrt{16}", 1), ("radical", "-4", "\\sqrt{16}", 0),
    ("radical", "50\\sqrt{3}", "86.6", 0), ("radical", "\\tan \\frac{\\pi}{8}", "\\sqrt{2}-1", 1),
    ("pi-e", "\\pi^2", "\\pi \\cdot \\pi", 1), ("pi-e", "e", "2.718", 0),
    ("percent", "\\frac{3}{8}", "37.5\\%", 1), ("percent", "6\\%", "6", 1), ("percent", "\\frac{1}{2}", "50\\%", 1),
    ("units", "10", "10\\text{ cm}^2", 1), ("units", "12\\sqrt{3}", "12 \\sqrt{3} \\text{ square units}", 1),
    ("units", "67", "\\$67", 1), ("units", "\\$1.50", "1.5", 1),
    ("choice", "\\text{B}", "B", 1), ("choice", "\\text{(D)}", "\\text{D}", 1),
    ("equation", "f^{-1}(x) = \\frac{x-3}{2}", "\\frac{x-3}{2}", 1), ("equation", "y^2 = 4x", "4x = y^2", 1),
    ("equation", "x + y = 5", "y = 5 - x", 1), ("equation", "x + y = 5", "x - y = 5", 0),
    ("equation", "x = \\pm 2", "-2, 2", 1), ("equation", "f^{-1}(x) = \\frac{x-3}{2}", "\\frac{x+3}{2}", 0),
    ("tuple", "\\langle 1, 2, 3 \\rangle", "(1,2,3)", 1), ("tuple", "(1, 2), (3, 4)", "(3, 4), (1, 2)", 1),
    ("tuple", "(0, 0), (1, 1)", "(0,0), (1,2)", 0),
    ("matrix", "\\begin{pmatrix} 1 \\\\ -1 \\\\ 2 \\end{pmatrix}", "\\langle 1, -1, 2 \\rangle", 1),
    ("set", "\\{-2, 2\\}", "x = \\pm 2", 1), ("roots", "2, -2", "\\pm 2", 1),
    ("interval", "\\left[ -\\frac{1}{2}, \\frac{1}{2} \\right]", "[-0.5, 0.5]", 1), ("interval", "x \\in [2, 5)", "[2, 5)", 1),
    ("interval", "[1, \\infty)", "x \\geq 1", 1), ("interval", "(-2, 2)", "-2 < x < 2", 1), ("interval", "\\infty", "-\\infty", 0),
    ("interval", "(-\\infty, \\infty)", "\\mathbb{R}", 1), ("interval", "(-\\infty, \\infty)", "\\text{all real numbers}", 1),
    ("complex", "2+2i", "2(1+i)", 1), ("complex", "i", "\\sqrt{-1}", 1), ("complex", "-1", "e^{i\\pi}", 1),
    ("complex", "\\sqrt{2}i", "i\\sqrt{2}", 1), ("complex", "1+i", "1-i", 0),
    ("expression", "3x^2 - 2x + 1", "1 - 2x + 3x^2", 1), ("expression", "\\frac{x^2+2x+1}{x+1}", "x+1", 1),
    ("expression", "(x+2)(x-3)", "x^2 - x - 6", 1), ("expression", "(x+2)(x-3)", "(x-2)(x+3)", 0),
    ("expression", "\\frac{1}{2}", "\\cos\\frac{\\pi}{3}", 1), ("expression", "2", "\\log_{10} 100", 1),
    ("expression", "2", "\\sqrt[4]{16}", 1), ("expression", "3", "\\lfloor 3.7 \\rfloor", 1),
    ("expression", "3", "|-3|", 1), ("expression", "3628800", "10!", 1), ("expression", "\\frac{1}{2}", "\\sin\\frac{\\pi}{4}", 0),
    ("integer", "300000000", "3.0 \\times 10^8", 1), ("integer", "1234567", "1{,}234{,}567", 1),
    ("units", "4.5", "\\$\\,4.50", 1), ("units", "2", "2\\,\\text{cm}", 1), ("text", "3:4", "3 : 4", 1),
    ("expression", "\\frac{1}{x}", "x^{-1}", 1), ("text", "\\text{Yes}", "yes", 1), ("text", "\\text{Yes}", "no", 0),
]
HOSTILE = [
    "9^{9^{9}}", "10^{100000}", "9^9^9^9", "(10^{10})!", "1000000!", "((((((5!)!)!)!)!)!)",
    "2^{2^{2^{2^{2^{2}}}}}", "(" * 400 + "1" + ")" * 400, "x" * 3000, "__import__('os').system('ls')",
    "\\exp(\\exp(\\exp(100)))", "(x+1)^{100000}", "\\binom{10^{8}}{5 \\cdot 10^{7}}", "1" * 5000,
]
# fmt: on


@dataclass
class Case:
    source: str
    gold: str
    response: str
    label: bool
    ours: bool | None = None
    theirs: bool | None = None


# -- the mix ---------------------------------------------------------------------


def _commas(n: str) -> str:
    return f"{int(n):,}" if re.fullmatch(r"-?\d{4,}", n) else n


def _gsm8k_endings(value: str) -> list[str]:
    return [
        f"The answer is {value}.",
        f"#### {value}",
        f"Therefore, the answer is \\boxed{{{value}}}.",
        f"So the final answer is ${_commas(value)}$.",
        f"She ends up with \\boxed{{\\${value}}}.",
        f"In total that makes {value} dollars.",
    ]


def _wrong(value: str, rng: random.Random) -> str:
    number = float(value)
    delta = rng.choice([1, -1, 2, 10, -10])
    wrong = number * 2 if number and rng.random() < 0.3 else number + delta
    return str(int(wrong)) if wrong == int(wrong) else str(wrong)


def gsm8k_cases(path: Path, rng: random.Random) -> list[Case]:
    cases = []
    for i, line in enumerate(path.read_text().splitlines()):
        record = json.loads(line)
        worked, _, final = record["answer"].rpartition("####")
        gold = final.strip().replace(",", "")
        body = re.sub(r"<<[^>]*>>", "", worked).strip()
        ending = i % 6
        cases.append(Case("gsm8k", gold, body + "\n" + _gsm8k_endings(gold)[ending], True))
        bad = _wrong(gold, rng)
        cases.append(Case("gsm8k", gold, body + "\n" + _gsm8k_endings(bad)[(ending + 3) % 6], False))
    return cases


def _perturb(answer: str, rng: random.Random) -> str:
    spots = list(re.finditer(r"\d+", answer))
    m = rng.choice(spots)
    return answer[: m.start()] + str(int(m.group()) + rng.choice([1, 2, 3])) + answer[m.end() :]


def _latex(answer: str) -> str:
    """The same answer as a model writing LaTeX would put it."""
    import sympy

    if re.fullmatch(r"\(.*\)", answer):
        return "\\left(" + answer[1:-1] + "\\right)"
    parts = [p.strip() for p in answer.split(",")]
    if len(parts) > 1:
        return ", ".join(_latex(p) for p in reversed(parts))
    if re.fullmatch(r"-?\d+\.\d+", answer):
        return "\\$" + answer
    return sympy.latex(sympy.sympify(answer, rational=True))


def task_cases(per_task: int, rng: random.Random) -> list[Case]:
    from datagen.tasks.base import task_rng
    from datagen.tasks.math import TASKS
    from datagen.teachers.render import render_solution

    cases = []
    for name, task in TASKS.items():
        for i in range(per_task):
            difficulty = 1 + i % 5
            problem = task.generate(task_rng(name, 7, i, difficulty), difficulty)
            solution = task.solve(problem.meta)
            text = render_solution(solution, "cot", "math", rng)
            boxed = f"\\boxed{{{solution.answer}}}"
            cases.append(Case(f"task:{name}", problem.answer, text, True))
            alt = text.replace(boxed, f"\\boxed{{{_latex(solution.answer)}}}")
            cases.append(Case(f"task:{name}", problem.answer, alt, True))
            bad = text.replace(boxed, f"\\boxed{{{_perturb(solution.answer, rng)}}}")
            cases.append(Case(f"task:{name}", problem.answer, bad, False))
    return cases


_WRAPS = [
    "We simplify and check the result.\n\nTherefore, the final answer is $\\boxed{{{}}}$.",
    "Putting it together, the answer is $\\boxed{{{}}}$. I hope it is correct.",
    "**Final Answer**\n\\[\n\\boxed{{{}}}\n\\]",
    "Combining the cases gives \\(\\boxed{{{}}}\\).",
]


def _poly(rng: random.Random, symbols: str = "x") -> tuple[object, str]:
    """A product of two or three small linear factors: (sympy expression, factored text)."""
    import sympy

    factors = []
    for _ in range(rng.choice([2, 2, 3])):
        var = sympy.Symbol(rng.choice(symbols))
        a, b = rng.choice([1, 1, 2, 3, -1]), rng.choice([-5, -3, -2, -1, 1, 2, 4, 7])
        factors.append(a * var + b)
    expr = sympy.Mul(*factors)
    return expr, "".join(f"({sympy.latex(f)})" for f in factors)


def algebra_cases(count: int, rng: random.Random) -> list[Case]:
    """Pairs that need algebraic equivalence: half right, half wrong (a term off)."""
    import sympy

    x = sympy.Symbol("x")
    cases = []
    while len(cases) < count:
        kind = len(cases) // 2 % 4
        if kind in (0, 1):  # factored against expanded, one or two variables
            gold_expr, gold = _poly(rng, "x" if kind == 0 else "xy")
            right = sympy.expand(gold_expr)
        elif kind == 2:  # a rational function against its simplified form
            expr, factored = _poly(rng)
            c = rng.choice([1, 2, 3, -2])
            gold_expr, gold = expr / (x + c), f"\\frac{{{factored}}}{{{sympy.latex(x + c)}}}"
            right = sympy.cancel(gold_expr) if rng.random() < 0.5 else sympy.apart(gold_expr, x)
        else:  # a sum of fractions against one fraction
            a, b = rng.sample([1, 2, 3, 4, 5, -1, -2], 2)
            gold_expr = 1 / (x + a) + 1 / (x + b)
            gold = f"{sympy.latex(1 / (x + a))} + {sympy.latex(1 / (x + b))}"
            right = sympy.together(gold_expr)
        wrong = right + rng.choice([1, -1, 2]) * rng.choice([1, x])
        for answer, label in ((right, True), (wrong, False)):
            assert (sympy.simplify(gold_expr - answer) == 0) is label, (gold, answer)
            text = _WRAPS[len(cases) % len(_WRAPS)].format(sympy.latex(answer))
            cases.append(Case("algebra", gold, text, label))
    return cases


def math_style_cases() -> list[Case]:
    return [
        Case(f"math:{category}", gold, _WRAPS[i % len(_WRAPS)].format(answer), bool(label))
        for i, (category, gold, answer, label) in enumerate(MATH_STYLE)
    ]


# -- running both ----------------------------------------------------------------


@cache
def _theirs_gold(gold: str):
    """math-verify's parse of a reference, once per reference (ours caches its
    parse of a reference too, so both pay for a repeated gold only once)."""
    parsed = mv_parse("\\boxed{" + gold + "}")
    return parsed if parsed else mv_parse(gold)


def run_ours(cases: list[Case], rounds: int = 1) -> float:
    """Seconds of the fastest of `rounds` passes, each from cold caches (a pass takes a
    fraction of a second, where one hiccup of a busy machine would count many times over;
    math-verify's one pass takes seconds)."""
    best = float("inf")
    for _ in range(rounds):
        clear_caches()
        start = time.perf_counter()
        for case in cases:
            case.ours = verify(case.gold, case.response).passed
        best = min(best, time.perf_counter() - start)
    return best


def run_theirs(cases: list[Case]) -> float:
    start = time.perf_counter()
    for case in cases:
        try:
            case.theirs = bool(mv_verify(_theirs_gold(case.gold), mv_parse(case.response)))
        except Exception:  # noqa: BLE001 - a crash is a wrong answer
            case.theirs = False
    return time.perf_counter() - start


def _short(text: str, width: int = 90) -> str:
    text = text.replace("\n", " ")
    return text if len(text) <= width else "..." + text[-width:]


def report(name: str, cases: list[Case], ours_s: float, theirs_s: float, quiet: bool, goal: float) -> None:
    n = len(cases)
    print(f"\n== mix {name}: {n} pairs ({sum(c.label for c in cases)} correct responses, "
          f"{sum(not c.label for c in cases)} wrong)")  # fmt: skip
    print(f"{'source':<24}{'pairs':>7}{'ours right':>12}{'theirs right':>14}")
    for source in sorted({c.source for c in cases}):
        group = [c for c in cases if c.source == source]
        ours = sum(c.ours == c.label for c in group)
        theirs = sum(c.theirs == c.label for c in group)
        print(f"{source:<24}{len(group):>7}{ours:>12}{theirs:>14}")
    ours_rate, theirs_rate = n / ours_s, n / theirs_s
    print(f"\nthroughput: ours {ours_rate:,.0f} pairs/s ({ours_s:.2f} s), "
          f"math-verify {theirs_rate:,.0f} pairs/s ({theirs_s:.2f} s)")  # fmt: skip
    print(f"ratio ({name}): {ours_rate / theirs_rate:.1f}x (goal >= {goal:g}x)")
    classes = {
        "both wrong": [c for c in cases if c.ours != c.label and c.theirs != c.label],
        "ours right / theirs wrong": [c for c in cases if c.ours == c.label and c.theirs != c.label],
        "theirs right / ours wrong": [c for c in cases if c.ours != c.label and c.theirs == c.label],
    }
    print("\ndisagreements with the expected label:")
    for name, group in classes.items():
        print(f"  {name}: {len(group)}")
    for name, group in classes.items():
        if not group or (quiet and name == "ours right / theirs wrong"):
            continue
        print(f"\n-- {name} ({len(group)})")
        for c in group:
            expected = "correct" if c.label else "wrong"
            print(
                f"  [{c.source}] gold={c.gold!r} expected={expected}\n      response: {_short(c.response)!r}"
            )


def hostile(timeout_note: str = "") -> None:
    print("\nhostile answers (gold '3'), seconds per call:")
    print(f"  {'answer':<40}{'ours':>8}{'theirs':>8}")
    for answer in HOSTILE:
        response = f"The answer is $\\boxed{{{answer}}}$."
        t = time.perf_counter()
        ours = verify("3", response)
        ours_s = time.perf_counter() - t
        t = time.perf_counter()
        try:
            mv_verify(_theirs_gold("3"), mv_parse(response))
        except Exception:  # noqa: BLE001
            pass
        theirs_s = time.perf_counter() - t
        assert not ours.passed
        print(f"  {_short(answer, 38):<40}{ours_s:>8.3f}{theirs_s:>8.3f}")


LABELS = REPO / "bench" / "verify_math_labels.jsonl"


def _label_key(reference: str, response: str) -> str:
    import hashlib

    return hashlib.sha256(f"{reference}\x00{response}".encode()).hexdigest()[:16]


def real_completions(workspaces: list[Path], quiet: bool) -> None:
    """Both graders on every stored model completion of the workspaces (the builtin
    teacher's are left out); where they differ, who is right."""
    import duckdb

    rows = []
    for workspace in workspaces:
        db = workspace / "cotmill.duckdb"
        if not db.exists():
            raise SystemExit(
                f"--real {workspace}: no cotmill.duckdb there (see the docstring for the commands)"
            )
        with duckdb.connect(str(db), read_only=True) as con:
            rows += con.execute(
                """SELECT c.job || ' (' || p.task || ')', p.answer, c.text, p.prompt
                   FROM completions c JOIN problems p USING (problem_id)
                   WHERE c.text IS NOT NULL AND p.answer IS NOT NULL AND p.domain = 'math'
                     AND c.teacher <> 'builtin'
                   ORDER BY c.job, c.completion_id"""
            ).fetchall()
    labels = {}
    if LABELS.exists():
        for line in LABELS.read_text().splitlines():
            if line.strip():
                record = json.loads(line)
                labels[record["key"]] = record
    cases = [Case(f"real:{job}", str(answer), text, False) for job, answer, text, _ in rows]
    judge_math = verifiers.get("math")  # what `cotmill verify` runs: it also sees the question
    for case, (*_, prompt) in zip(cases, rows):
        case.ours = judge_math(SimpleNamespace(answer=case.gold, prompt=prompt), case.response).passed
    run_theirs(cases)
    differ = [c for c in cases if c.ours != c.theirs]
    print(f"\n== real completions ({', '.join(map(str, workspaces))}): {len(cases)}")
    print(f"{'job (task)':<32}{'completions':>12}{'ours pass':>11}{'theirs pass':>13}{'agree':>8}")
    for source in sorted({c.source for c in cases}):
        group = [c for c in cases if c.source == source]
        agree = sum(c.ours == c.theirs for c in group)
        print(f"{source:<32}{len(group):>12}{sum(c.ours for c in group):>11}{sum(c.theirs for c in group):>13}"
              f"{agree / len(group):>8.1%}")  # fmt: skip
    right = {"ours": 0, "theirs": 0, "unlabelled": 0}
    lines = []
    for c in differ:
        record = labels.get(_label_key(c.gold, c.response))
        if record is None:
            who, why = "unlabelled", ""
        else:
            who = "ours" if record["correct"] == c.ours else "theirs"
            why = record.get("note", "")
        right[who] += 1
        lines.append(f"  {who + ' right':<16} gold={c.gold!r:<10} ours={'pass' if c.ours else 'fail'} "
                     f"theirs={'pass' if c.theirs else 'fail'}  {why}\n      ...{_short(c.response, 110)!r}")  # fmt: skip
    print(f"they differ on {len(differ)}: ours right {right['ours']}, math-verify right {right['theirs']}, "
          f"unlabelled {right['unlabelled']} (labels: {LABELS.relative_to(REPO)})")  # fmt: skip
    if not quiet or right["unlabelled"]:
        print("\n".join(lines))


def main() -> None:
    logging.getLogger("math_verify").setLevel(logging.CRITICAL)  # its timeouts are counted, not logged
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--gsm8k", type=Path, default=GSM8K)
    ap.add_argument("--per-task", type=int, default=40, help="problems per procedural task")
    ap.add_argument("--quiet", action="store_true", help="do not list the cases only we get right")
    ap.add_argument("--no-hostile", action="store_true")
    ap.add_argument(
        "--real",
        type=Path,
        action="append",
        help="a cotmill workspace of real model completions to judge with both (repeatable)",
    )
    args = ap.parse_args()
    rng = random.Random(0)
    mixes: dict[str, tuple[list[Case], float]] = {}
    if args.gsm8k.exists():
        mixes["gsm8k"] = (gsm8k_cases(args.gsm8k, rng), 30)
    else:
        print(f"({args.gsm8k} is absent: no GSM8K mix)")
    math = task_cases(args.per_task, rng) + math_style_cases()
    mixes["algebra"] = (math + algebra_cases(len(math) // 3, rng), 20)  # a quarter algebraic
    # warm both up (imports, sympy, our helper process) before timing
    warm_up()
    for case in math_style_cases()[:20] + algebra_cases(8, random.Random(1)):
        verify(case.gold, case.response)
        mv_verify(_theirs_gold(case.gold), mv_parse(case.response))
    for name, (cases, goal) in mixes.items():
        ours_s = run_ours(cases, rounds=3)
        theirs_s = run_theirs(cases)
        report(name, cases, ours_s, theirs_s, args.quiet, goal)
    if args.real:
        real_completions(args.real, args.quiet)
    if not args.no_hostile:
        hostile()


if __name__ == "__main__":
    main()
