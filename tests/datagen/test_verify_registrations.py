"""A verifier registered at run time in this process (a script's, a notebook's) judges
every row of a multi-process verify: the spawned workers are handed it, or, where they
cannot import it, it judges in this process with a warning instead of every verdict
becoming "verifier error: KeyError"."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

from tests.conftest import REPO

# a task whose problems name the verifier `mine`, and a verify of its 200 completions on
# 2 workers; the verifier (defined by JUDGE) records the pid it ran in
SETUP = """
import json
import os
import sys
import warnings

import verifiers
from cotmill import Workspace
from datagen.tasks import register
from datagen.tasks.base import Generated, Solution, Task


def generate(rng, difficulty):
    n = rng.randint(1, 10**6)
    return Generated(f"Repeat {n}.", str(n), {"n": n})


def solve(meta):
    return Solution("Repeat it.", [], str(meta["n"]))


def main():
    register(Task("repeat", "echo", "mine", "Repeat a number.", generate, solve))
    verifiers.register("mine", "1")(judge)
    ws = Workspace(sys.argv[1])
    ws.generate(job="j", tasks="repeat", count=100, samples=2, teacher="builtin")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        stats = ws.verify(workers=2)
    reasons = ws.sql("select reason, passed from verdicts where verifier = 'mine'").rows()
    print(json.dumps({"pid": os.getpid(), "judged": stats.judged, "reasons": reasons,
                      "warnings": [str(w.message) for w in caught]}))
"""


def run(code: str, tmp_path, as_file: bool) -> dict:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO)])}
    ws = str(tmp_path / "w")
    if as_file:
        (tmp_path / "script.py").write_text(code)
        cmd = [sys.executable, str(tmp_path / "script.py"), ws]
    else:
        cmd = [sys.executable, "-c", code, ws]
    done = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_verifier_registered_at_run_time_is_used_by_the_spawn_workers(tmp_path):
    # defined in a module the workers can import, but registered only by the script's
    # main(): a worker knows it only if it is handed the registration
    (tmp_path / "my_judges.py").write_text(
        textwrap.dedent("""\
            import os

            from verifiers.base import Verdict


            def judge(problem, response):
                return Verdict(problem.answer in response, 1.0, reason=f"pid {os.getpid()}")
            """)
    )
    code = "from my_judges import judge\n" + SETUP + "\nif __name__ == '__main__':\n    main()\n"
    out = run(code, tmp_path, as_file=True)
    assert out["judged"] == 200 and len(out["reasons"]) == 200
    assert all(passed for _, passed in out["reasons"])
    pids = {reason for reason, _ in out["reasons"]}
    assert f"pid {out['pid']}" not in pids and all(p.startswith("pid ") for p in pids)
    assert out["warnings"] == []


def test_a_verifier_a_worker_cannot_import_judges_in_this_process_with_a_warning(tmp_path):
    # `python -c`, like a notebook: __main__ has no file a spawned worker could import
    judge = textwrap.dedent("""
        from verifiers.base import Verdict


        def judge(problem, response):
            return Verdict(problem.answer in response, 1.0, reason=f"pid {os.getpid()}")
        """)
    out = run(SETUP + judge + "\nmain()\n", tmp_path, as_file=False)
    assert out["judged"] == 200
    assert {reason for reason, _ in out["reasons"]} == {f"pid {out['pid']}"}
    assert all(passed for _, passed in out["reasons"])
    assert any("'mine'" in w and "judging it in this process" in w for w in out["warnings"])
