"""The registry finds every verifier whichever verifier module was imported first."""

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO

WIDGETS = None  # the registry the widget modules below register into


def test_importing_one_module_first_does_not_hide_the_others():
    code = (
        "from verifiers.code import extract_program\n"
        "import verifiers\n"
        "verifiers.get('math'); verifiers.get('logic'); verifiers.get('code')\n"
        "print(len(verifiers.names()))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout) >= 3


# ---------------------------------------------------------------- the shared mechanism


def _dist(root, name: str, entry_points: str) -> None:
    """An installed distribution as importlib.metadata reads it: a dist-info directory."""
    info = root / f"{name}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(entry_points)


def test_registry_reads_like_a_dict_and_names_what_it_knows():
    from verifiers.registry import Registry

    widgets = Registry("widget")
    widgets.register("a", 1)

    @widgets.register("b")
    def b():
        return 2

    assert widgets.get("a") == 1 and widgets["b"] is b and list(widgets) == ["a", "b"] and "a" in widgets
    with pytest.raises(KeyError, match="unknown widget 'c'; known: a, b"):
        widgets.get("c")


def test_entry_points_load_on_first_lookup_and_a_broken_one_is_named(tmp_path, monkeypatch):
    from verifiers.registry import Registry

    (tmp_path / "widget_mod.py").write_text(
        "from tests.verifiers.test_registry import WIDGETS\nWIDGETS.register('from_module', 'm')\n"
    )
    _dist(
        tmp_path,
        "widgets",
        "[cotmill.widgets]\nmod = widget_mod\nobj = json:dumps\nbad = no_such_module_xyz\n",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    global WIDGETS
    WIDGETS = Registry("widget")
    WIDGETS.register("early", "run-time")  # before the load: still there after it
    with pytest.warns(UserWarning, match="cannot load widget entry point bad = no_such_module_xyz"):
        names = WIDGETS.names()
    assert set(names) == {"early", "from_module", "obj"}
    assert WIDGETS.get("obj") is json.dumps
    with pytest.raises(
        KeyError, match=r"entry points that failed to load: bad = no_such_module_xyz \(package widgets\)"
    ):
        WIDGETS.get("bad")
    # only what no built-in or entry-point module defines is a run-time registration
    assert WIDGETS.runtime() == {"early": "run-time"}


def test_a_run_time_registration_wins_over_a_built_in_of_the_same_name(tmp_path, monkeypatch):
    from verifiers.registry import Registry

    (tmp_path / "builtin_widgets.py").write_text(
        "from tests.verifiers.test_registry import WIDGETS\nWIDGETS.register('x', 'built-in')\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    global WIDGETS
    WIDGETS = Registry("widget", builtins=("builtin_widgets",))
    WIDGETS.register("x", "mine")
    assert WIDGETS.get("x") == "mine"


def test_a_lookup_from_another_thread_waits_for_the_load(tmp_path, monkeypatch):
    from concurrent.futures import ThreadPoolExecutor

    from verifiers.registry import Registry

    (tmp_path / "slow_widgets.py").write_text(
        "import time\nfrom tests.verifiers.test_registry import WIDGETS\n"
        "time.sleep(0.3)\nWIDGETS.register('slow', 1)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    global WIDGETS
    WIDGETS = Registry("widget", builtins=("slow_widgets",))
    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(lambda _: WIDGETS.get("slow"), range(4))) == [1, 1, 1, 1]


def test_a_built_in_that_fails_to_import_is_raised_and_retried(tmp_path, monkeypatch):
    """A broken built-in is a bug: its error shows, and the registry does not go on as if
    loaded with what it has (the plugins would never load)."""
    from verifiers.registry import Registry

    module = tmp_path / "flaky_widgets.py"
    module.write_text("raise ImportError('half-written module')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    global WIDGETS
    WIDGETS = Registry("widget", builtins=("flaky_widgets",))
    with pytest.raises(ImportError, match="half-written"):
        WIDGETS.get("w")
    module.write_text("from tests.verifiers.test_registry import WIDGETS\nWIDGETS.register('w', 2)\n")
    import importlib

    importlib.invalidate_caches()
    assert WIDGETS.get("w") == 2
