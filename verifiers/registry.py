"""One registry mechanism for everything cotmill lets you add: verifiers, tasks, teachers,
rewards and export formats.

Each kind keeps its own `Registry` in its own package (verifiers.REGISTRY,
datagen.tasks.TASKS, datagen.teachers.TEACHERS, train.rewards.REWARDS,
mixtures.export.FORMATS); this module lives in `verifiers` only because that package
is the bottom of the dependency order, so every other package may import it.

An item gets in one of two ways, and both end in `register(name, obj)`:
- a module calls `register` (or its kind's decorator) when it is imported. Built-in
  items are such modules, imported on the first lookup;
- an installed package declares an entry point in group `cotmill.<kind>s`
  (`[project.entry-points."cotmill.verifiers"]` in its pyproject.toml). On the first
  lookup each one is loaded: a module registers its items as it is imported; any other
  object that is not yet registered under the entry point's name is registered under it.

Registrations of objects defined elsewhere (a script, a notebook, a module imported by
hand) are "run-time" ones: `runtime()` lists them, so that worker processes, which load
the built-ins and entry points themselves, can be handed exactly those. They win over a
built-in or plugin of the same name whenever they were made.
"""

from __future__ import annotations

import importlib
import pickle
import sys
import threading
import types
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from importlib.metadata import entry_points
from typing import Any


def _dist_and_name(ep) -> tuple[str, str]:
    return (getattr(getattr(ep, "dist", None), "name", None) or "", ep.name)


class Registry(Mapping):
    """name -> registered object, filled lazily; reads like a dict (`in`, `[]`, iteration
    in registration order)."""

    def __init__(
        self,
        kind: str,
        builtins: Iterable[str] = (),
        adapt: Callable[[str, Any], Any] | None = None,
        origin: Callable[[Any], str | None] | None = None,
    ):
        self.kind = kind  # "verifier": used in messages and the entry-point group
        self.group = f"cotmill.{kind}s"
        self._builtins = tuple(builtins)  # modules that register the built-in items when imported
        self._adapt = adapt  # turns an entry point's plain object into what this registry holds
        self._origin = origin or (lambda obj: getattr(obj, "__module__", None))  # defining module
        self._loaded_modules: set[str] = set()  # built-in and entry-point modules
        self._items: dict[str, Any] = {}
        self._runtime: dict[str, Any] = {}
        self._state = "new"  # new -> loading -> loaded
        self._lock = threading.RLock()
        self._broken: list[str] = []  # entry points that failed to load, for the unknown-name message

    # ------------------------------------------------------------ registering

    def register(self, name: str, obj: Any = None):
        """`register(name, obj)` registers obj and returns it; `@register(name)` decorates.
        A later registration of the same name replaces the earlier one."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"a {self.kind} needs a non-empty name, got {name!r}")
        if obj is None:
            return lambda fn: self.register(name, fn)
        self._items[name] = obj
        if self._state != "loading":
            self._runtime[name] = obj
        return obj

    def unregister(self, name: str) -> None:
        """Forget `name` (a test's or a notebook's registration)."""
        self._items.pop(name, None)
        self._runtime.pop(name, None)

    def runtime(self) -> dict[str, Any]:
        """The run-time registrations whose objects a built-in or entry-point module does not
        define (those, a worker process loads itself)."""
        self.load()
        return {name: obj for name, obj in self._runtime.items() if not self._from_loaded_module(obj)}

    def sendable(self) -> tuple[dict[str, Any], set[str]]:
        """The run-time registrations split in two: those another process (a spawn worker, a
        Ray actor) can rebuild from their pickle, and the names of those it cannot (defined in
        a notebook's or `python -c`'s __main__, a lambda, a local function)."""
        sent, stuck = {}, set()
        for name, obj in self.runtime().items():
            if (
                self._origin(obj) == "__main__"
                and getattr(sys.modules.get("__main__"), "__file__", None) is None
            ):
                stuck.add(name)  # a fresh process has no such __main__
                continue
            try:
                pickle.dumps(obj)
            except Exception:  # noqa: BLE001 - lambdas, local functions: pickle names what is wrong
                stuck.add(name)
                continue
            sent[name] = obj
        return sent, stuck

    def _from_loaded_module(self, obj: Any) -> bool:
        module = self._origin(obj) or ""
        return any(module == m or module.startswith(m + ".") for m in self._loaded_modules)

    # --------------------------------------------------------------- loading

    def load(self) -> None:
        """Import the built-in modules, then load the entry points; once."""
        if self._state == "loaded":
            return
        with self._lock:  # another thread waits for the load; this one may re-enter it
            if self._state != "new":
                return  # "loading": a module being loaded looked something up; it sees what is there
            self._state = "loading"
            try:
                for module in self._builtins:
                    importlib.import_module(module)
                    self._loaded_modules.add(module)
            except BaseException:
                # a built-in that fails to import is a bug (or Ctrl-C): say so now, and try again
                # on the next lookup rather than go on with a partial registry and no plugins
                self._state = "new"
                raise
            try:
                # in a fixed order (package, then name), whatever order the installs were in:
                # messages and listings read the same on every machine
                for ep in sorted(entry_points(group=self.group), key=_dist_and_name):
                    self._load_entry_point(ep)
            finally:
                self._state = "loaded"
                self._items.update(self._runtime)  # made before the load: they still win

    def _load_entry_point(self, ep) -> None:
        dist = _dist_and_name(ep)[0] or "?"
        try:
            obj = ep.load()
            self._loaded_modules.add(ep.module)
            if isinstance(obj, types.ModuleType) or ep.name in self._items:
                return  # the import registered it
            self._items[ep.name] = self._adapt(ep.name, obj) if self._adapt else obj
        except Exception as e:  # noqa: BLE001 - one broken plugin must not take cotmill down with it
            message = f"{ep.name} = {ep.value} (package {dist}): {type(e).__name__}: {e}"
            self._broken.append(message)
            warnings.warn(f"cotmill: cannot load {self.kind} entry point {message}", stacklevel=3)

    # --------------------------------------------------------------- reading

    def get(self, name: str) -> Any:
        self.load()
        try:
            return self._items[name]
        except KeyError:
            known = ", ".join(sorted(self._items)) or "none"
            broken = f"; entry points that failed to load: {'; '.join(self._broken)}" if self._broken else ""
            raise KeyError(f"unknown {self.kind} {name!r}; known: {known}{broken}") from None

    def names(self) -> list[str]:
        self.load()
        return list(self._items)

    def __getitem__(self, name: str) -> Any:
        return self.get(name)

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())

    def __contains__(self, name: object) -> bool:
        self.load()
        return name in self._items

    def __repr__(self) -> str:
        return (
            f"<{self.kind} registry: {', '.join(self._items) if self._state == 'loaded' else '(not loaded)'}>"
        )


__all__ = ["Registry"]
