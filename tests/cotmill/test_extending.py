"""README's "Extending" section, as a user follows it: its modules become a package, its
entry points that package's pyproject.toml, `pip install` puts it where Python finds it,
and a fresh process (and the verify workers it spawns) uses the task, verifier, teacher,
reward and export format through the real API and CLI."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import REPO

MODULE = re.compile(r"^# (cotmill_strings/\w+\.py)\n")


def extending_blocks() -> tuple[dict[str, str], str]:
    """(module path -> source, the entry points' TOML) from README's Extending section."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Extending\n", 1)[1].split("\n## ", 1)[0]
    modules, toml = {}, []
    for lang, body in re.findall(r"```(\w+)\n(.*?)```", section, flags=re.S):
        if lang == "python":
            match = MODULE.match(body)
            assert match, f"README Extending: a python block without a '# cotmill_strings/X.py' line:\n{body}"
            modules[match.group(1)] = body
        elif lang == "toml":
            toml.append(body)
    return modules, "\n".join(toml)


@pytest.fixture(scope="module")
def plugin_path(tmp_path_factory) -> Path:
    """The README's package, pip-installed into a directory of its own (not the venv)."""
    modules, entry_points = extending_blocks()
    assert {Path(p).stem for p in modules} == {"tasks", "verify", "teachers", "rewards", "exports"}
    src = tmp_path_factory.mktemp("cotmill_strings_src")
    (src / "cotmill_strings").mkdir()
    (src / "cotmill_strings" / "__init__.py").write_text("")
    for path, source in modules.items():
        (src / path).write_text(source)
    (src / "pyproject.toml").write_text(
        textwrap.dedent("""\
            [build-system]
            requires = ["setuptools>=68"]
            build-backend = "setuptools.build_meta"

            [project]
            name = "cotmill-strings"
            version = "0.1.0"

            [tool.setuptools]
            packages = ["cotmill_strings"]

            """)
        + entry_points
    )
    target = tmp_path_factory.mktemp("site")
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
           "--no-index", "--target", str(target), str(src)]  # fmt: skip
    done = subprocess.run(pip, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert list(target.glob("cotmill_strings-0.1.0.dist-info/entry_points.txt"))
    return target


def run_python(code: str, plugin: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    script = cwd / "script.py"
    script.write_text(textwrap.dedent(code))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(plugin), str(REPO)])}
    return subprocess.run([sys.executable, str(script), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)  # fmt: skip


USE_ALL = """
import json
import sys
from concurrent.futures import ProcessPoolExecutor

import datagen.verify_runner as runner
from cotmill import Workspace
from train.rewards import compute_rewards


def main():
    ws = Workspace(sys.argv[1])
    stats = ws.generate(job="s", tasks="strings", count=250, samples=2, teacher="oracle")
    pools = []  # the executors run_verify made: the 500 rows must go to worker processes
    make = runner._executor
    runner._executor = lambda *a: pools.append(make(*a)) or pools[-1]
    verified = ws.verify(workers=2)
    verdicts = ws.sql(
        "select verifier, verifier_version, passed, reason, count(*) as n from verdicts group by all"
    ).rows()
    ws.mix({"name": "m", "total": 20, "ratios": {"strings": 1.0}, "split": {"val": 0.2}})
    counts, paths = ws.export("m", format="alpaca", as_="jsonl", out=sys.argv[2])
    first = json.loads(open(paths["train"]).readline())
    total, parts = compute_rewards(
        [{}, {}], ["short", "longer"], [4, 12], weights="brevity=1", max_new_tokens=16, overlong_buffer=4
    )
    print(json.dumps({
        "stored": stats.stored,
        "teachers": ws.sql("select distinct teacher from completions").rows(),
        "tasks": ws.sql("select distinct domain, task, verifier from problems").rows(),
        "process_pool": any(isinstance(p, ProcessPoolExecutor) for p in pools),
        "judged": verified.judged,
        "verdicts": verdicts,
        "counts": counts,
        "first": first,
        "brevity": parts["brevity"].tolist(),
    }))


if __name__ == "__main__":
    main()
"""


def test_readme_plugin_is_used_by_generate_verify_workers_export_and_rewards(plugin_path, tmp_path):
    done = run_python(USE_ALL, plugin_path, tmp_path, str(tmp_path / "w"), str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["stored"] == 500
    assert out["teachers"] == [["oracle"]]
    assert out["tasks"] == [["strings", "reverse_word", "strings.exact"]]
    assert out["process_pool"] and out["judged"] == 500
    # every verdict is the plugin verifier's: in a worker without it, each would read
    # "verifier error: KeyError"
    assert out["verdicts"] == [["strings.exact", "1", True, None, 500]]
    assert out["counts"] == {"train": 16, "val": 4}
    assert set(out["first"]) == {"instruction", "output"}
    assert out["first"]["instruction"].startswith("Write the word ")
    assert out["brevity"] == [0.75, 0.25]


def test_cli_lists_the_plugins_choices(plugin_path, tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(plugin_path), str(REPO)])}

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "cotmill", *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=300)  # fmt: skip

    tasks = cli("tasks", "--domain", "strings")
    assert tasks.returncode == 0, tasks.stderr
    assert "reverse_word" in tasks.stdout and "arithmetic" not in tasks.stdout
    assert "sft|rl|prm|dpo|alpaca" in cli("export", "--help").stdout
    unknown = cli("generate", "--workspace", str(tmp_path / "w"), "--tasks", "strings", "--teacher", "gpt4")
    assert unknown.returncode != 0
    assert "unknown teacher 'gpt4'; use builtin, openai:MODEL, hf:PATH or oracle" in unknown.stderr
