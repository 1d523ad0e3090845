"""What a run ran on: threads, CPU, libraries and commit, stored with every `runs` row.

Long training amplifies small float differences between machines (kernels chosen per
CPU, thread counts), so two runs' figures can only be compared when it is known what
each ran on. Cheap to collect (no subprocess but one `git rev-parse`), never raises.
"""

from __future__ import annotations

import functools
import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

LIBRARIES = ("cotmill", "torch", "transformers", "peft", "numpy", "duckdb")
REPO = Path(__file__).resolve().parents[1]


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


@functools.cache  # two git calls; the checkout does not change under a running process
def commit() -> str | None:
    """The checkout's commit, `+dirty` when tracked files differ; None outside a git checkout."""
    if not (REPO / ".git").exists():
        return None
    try:
        head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=10).stdout.strip()  # fmt: skip
        dirty = subprocess.run(["git", "-C", str(REPO), "diff", "--quiet", "HEAD"], timeout=10).returncode
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{head}+dirty" if head and dirty else head or None


def environment() -> dict:
    import torch

    env = {
        "threads": torch.get_num_threads(),
        "interop_threads": torch.get_num_interop_threads(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "cores": os.cpu_count(),
        "cpu": _cpu_model(),
        "machine": platform.machine(),
        "system": platform.platform(),
        "python": sys.version.split()[0],
        "versions": {name: _version(name) for name in LIBRARIES},
        "commit": commit(),
        "cuda": None,
    }
    if torch.cuda.is_available():
        env["cuda"] = {"version": torch.version.cuda, "device": torch.cuda.get_device_name(0)}
    return env
