"""The code verifier: run the response's program against hidden tests in the sandbox.

`verify(response, tests, timeout_s)` takes the program from the LAST fenced python
block of the response (```python, ```py or a bare ``` fence), or from the whole
response when it has none. It runs the program in `verifiers.sandbox`, one of three
test formats:

- humaneval: {"test": "def check(candidate): ...", "entry_point": "f"}. check() runs
  in its own process against proxies of the program's functions. Passed only when
  the tests process reports that check() returned (score 1/0).
- io: {"entry_point": "f", "cases": [{"input": [args], "output": value}]}. The program
  process returns each value as plain data (subclasses reduced to their base type).
  The expected values never enter the sandbox and are compared here. Numbers compare
  like Python (2 == 2.0, floats within 1e-9), bool is not int, tuples match lists.
- stdio: {"cases": [{"stdin": "...", "stdout": "..."}]}: a case passes when the program
  exits with status 0 and its stdout, with trailing spaces and blank lines dropped,
  matches.

The score is the fraction of cases passed. `passed` means all of them. A case that
did not report (an early exit, os._exit, a crash, the timeout) fails. Nothing
printed on stdout can stand in for a report.
"""

from __future__ import annotations

import json
import math
import time

from verifiers import register, sandbox
from verifiers.answers import last_python_block
from verifiers.base import Verdict
from verifiers.sandbox_harness import from_wire

VERSION = "2"
FORMATS = ("humaneval", "io", "stdio")
_SHOW = 120


def extract_program(response: str) -> str:
    """The last fenced python block, else the whole response."""
    block = last_python_block(response)
    return block[0] if block else response


def verify(
    response: str, tests: dict, timeout_s: float = 10.0, *, pool: sandbox.Pool | None = None
) -> Verdict:
    """Judge `response` against `tests` (humaneval, io or stdio); never raises. The
    default pool (one sandboxed worker per CPU) serves unless `pool` is given."""
    start = time.perf_counter()
    program = extract_program(response) if isinstance(response, str) else ""
    try:
        request, score = _plan(program, tests)
    except (KeyError, TypeError, ValueError) as exc:
        return Verdict.fail(f"malformed tests: {exc}", extracted=program)
    try:
        reply = pool.run(request, timeout_s) if pool is not None else sandbox.run(request, timeout_s)
        if "error" in reply:
            verdict = Verdict.fail(str(reply["error"]))
        else:
            verdict = score(reply, timeout_s)
    except Exception as exc:  # a bug of ours must not stop a million-row job
        verdict = Verdict.fail(f"verifier error: {type(exc).__name__}: {exc}")
    verdict.extracted = program
    verdict.elapsed_ms = (time.perf_counter() - start) * 1000
    verdict.details["format"] = tests["format"]
    return verdict


@register("code", VERSION)
def verify_problem(problem, response: str) -> Verdict:
    try:
        tests = problem.answer if isinstance(problem.answer, dict) else json.loads(problem.answer)
    except (TypeError, ValueError) as exc:
        return Verdict.fail(f"malformed tests JSON: {exc}", extracted=extract_program(str(response)))
    return verify(response, tests)


# -------------------------------------------------------------------- requests


def _plan(program: str, tests: dict):
    if not isinstance(tests, dict) or tests.get("format") not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}")
    fmt = tests["format"]
    if fmt == "humaneval":
        test, entry = _text(tests, "test"), _text(tests, "entry_point")
        request = {"kind": "humaneval", "program": program, "entry_point": entry, "test": test}
        return request, lambda reply, t: _score_humaneval(reply, test, t)
    cases = tests.get("cases")
    if not isinstance(cases, list) or not cases or not all(isinstance(c, dict) for c in cases):
        raise ValueError("cases must be a non-empty list of objects")
    if fmt == "io":
        entry = _text(tests, "entry_point")
        inputs = [case["input"] for case in cases]
        expected = [case["output"] for case in cases]
        request = {"kind": "io", "program": program, "entry_point": entry, "inputs": inputs}
        return request, lambda reply, t: _score_io(reply, expected, t)
    stdins = [_text(case, "stdin", empty=True) for case in cases]
    expected = [_text(case, "stdout", empty=True) for case in cases]
    request = {"kind": "stdio", "program": program, "stdins": stdins}
    return request, lambda reply, t: _score_stdio(reply, expected, t)


def _text(obj: dict, key: str, empty: bool = False) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not (empty or value.strip()):
        raise ValueError(f"{key} must be a{'' if empty else ' non-empty'} string")
    return value


def _show(value) -> str:
    text = repr(value)
    return text if len(text) <= _SHOW else text[: _SHOW - 3] + "..."


def _ended(reply: dict, timeout_s: float) -> str:
    """Why a run stopped early, in words."""
    if reply.get("state") == "timeout":
        return f"timed out after {timeout_s:g}s"
    if reply.get("signal"):
        return f"killed by signal {reply['signal']} (a limit was hit)"
    return f"exited with status {reply.get('exit')} before reporting"


def _result(passed: int, total: int, reason: str | None) -> Verdict:
    score = passed / total if total else 0.0
    verdict = Verdict(passed == total and total > 0, score, reason=None if passed == total else reason)
    verdict.details.update(cases=total, cases_passed=passed)
    return verdict


# --------------------------------------------------------------------- scoring


def _score_humaneval(reply: dict, test: str, timeout_s: float) -> Verdict:
    report = _lines(reply.get("report", ""))
    last = report[-1] if report else {}
    if last.get("passed") is True and reply.get("exit") == 0:
        return _result(1, 1, None)
    if not last:
        return _result(0, 1, f"the tests did not finish: {_ended(reply, timeout_s)}")
    reason = str(last.get("error", "failed"))
    line = last.get("line")
    lines = test.splitlines()
    if isinstance(line, int) and 0 < line <= len(lines):
        reason += f" at line {line} of the tests: {_show(lines[line - 1].strip())[1:-1]}"
    return _result(0, 1, reason)


def _score_io(reply: dict, expected: list, timeout_s: float) -> Verdict:
    got: dict[int, dict] = {}
    failure = None
    for item in _lines(reply.get("report", "")):
        if item.get("load"):
            failure = f"the program failed to load: {item['load']}"
        index = item.get("i")
        if type(index) is int and 0 <= index < len(expected) and index not in got:
            got[index] = item
    passed = 0
    for index, want in enumerate(expected):
        item = got.get(index)
        if item is None:
            failure = failure or f"case {index + 1} did not run: {_ended(reply, timeout_s)}"
        elif "error" in item:
            failure = failure or f"case {index + 1}: {str(item['error'])[:200]}"
        else:
            try:
                value = from_wire(item.get("ok"))
            except (ValueError, RecursionError):
                failure = failure or f"case {index + 1}: the returned value could not be read"
                continue
            if same(want, value):
                passed += 1
            else:
                failure = failure or f"case {index + 1}: expected {_show(want)}, got {_show(value)}"
    return _result(passed, len(expected), failure)


def _score_stdio(reply: dict, expected: list, timeout_s: float) -> Verdict:
    cases = reply.get("cases") or []
    passed, failure = 0, None
    for index, want in enumerate(expected):
        case = cases[index] if index < len(cases) else {}
        why = None
        if case.get("state") != "exited" or case.get("exit") != 0:
            why = (
                _ended(case, timeout_s) if case.get("exit") is None else f"exited with status {case['exit']}"
            )
            tail = str(case.get("stderr", "")).strip().splitlines()[-1:] or [""]
            why += f" ({tail[0][:200]})" if tail[0] else ""
        elif case.get("truncated"):
            why = "printed more than the output limit"
        elif _normalise(case.get("stdout", "")) != _normalise(want):
            why = f"expected output {_show(want)}, got {_show(case.get('stdout', ''))}"
        if why is None:
            passed += 1
        else:
            failure = failure or f"case {index + 1}: {why}"
    return _result(passed, len(expected), failure)


def _lines(text: str) -> list[dict]:
    out = []
    for line in str(text).splitlines():
        try:
            item = json.loads(line)
        except (ValueError, RecursionError):
            continue
        if isinstance(item, dict):
            out.append(item)
    return out


def _normalise(text: str) -> str:
    return "\n".join(line.rstrip() for line in str(text).replace("\r\n", "\n").rstrip().split("\n"))


def same(expected, got) -> bool:
    """`got` (plain data from the sandbox) equals the JSON value `expected`."""
    te, tg = type(expected), type(got)
    if te is bool or tg is bool:
        return te is tg and expected == got
    if expected is None or got is None:
        return expected is got
    if te in (int, float):
        if tg not in (int, float):
            return False
        if te is int and tg is float:
            return got.is_integer() and int(got) == expected
        if te is float and tg is float and math.isnan(expected):
            return math.isnan(got)
        return expected == got or math.isclose(expected, got, rel_tol=1e-9, abs_tol=1e-12)
    if te is str:
        return tg is str and expected == got
    if te is list:
        return tg in (list, tuple) and len(expected) == len(got) and all(map(same, expected, got))
    if te is dict:
        return (
            tg is dict and expected.keys() == got.keys() and all(same(v, got[k]) for k, v in expected.items())
        )
    return False
