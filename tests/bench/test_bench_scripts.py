"""The benchmark scripts start: gpu.py refuses a machine without CUDA with a clear message,
knows the peak FLOPs of the usual GPUs, and the TRL comparisons parse their arguments
(they skip where trl is not installed) and refuse a --model that is no model directory. The
benchmarks themselves are not timed tests."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest

from tests.conftest import REPO


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=REPO, timeout=120)


def _gpu_module():
    spec = importlib.util.spec_from_file_location("bench_gpu", REPO / "bench" / "gpu.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_gpu_bench_without_cuda_says_how_to_dry_run():
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: the benchmark would run for real")
    result = _run("bench/gpu.py")
    assert result.returncode == 1
    assert "no CUDA device" in result.stderr and "--size tiny --device cpu" in result.stderr


@pytest.mark.parametrize(
    "name, tflops",
    [("NVIDIA H100 80GB HBM3", 989.0), ("NVIDIA H100 PCIe", 756.0), ("NVIDIA H200", 989.0),
     ("NVIDIA A100-SXM4-80GB", 312.0), ("NVIDIA L4", 121.0), ("Some Future GPU", None)],
)  # fmt: skip
def test_gpu_bench_knows_peak_bf16_flops(name, tflops):
    assert _gpu_module().peak_tflops(name) == tflops


@pytest.mark.parametrize("script", ["bench/sft_vs_trl.py", "bench/grpo_vs_trl.py"])
def test_trl_benches_parse_their_arguments(script):
    pytest.importorskip("trl")
    result = _run(script, "--help")
    assert result.returncode == 0, result.stderr
    assert "--steps" in result.stdout and "--base-steps" in result.stdout
    bad = _run(script, "--steps", "2", "--base-steps", "4")
    assert bad.returncode == 2 and "--steps must be larger than --base-steps" in bad.stderr


@pytest.mark.parametrize("script", ["bench/sft_vs_trl.py", "bench/grpo_vs_trl.py"])
def test_trl_benches_refuse_a_model_that_is_not_a_model_directory(script, tmp_path):
    pytest.importorskip("trl")
    missing = _run(script, "--model", str(tmp_path / "nowhere"))
    assert missing.returncode == 2 and "no such directory" in missing.stderr
    no_config = _run(script, "--model", str(tmp_path))
    assert no_config.returncode == 2 and "no config.json" in no_config.stderr
    assert "Traceback" not in missing.stderr + no_config.stderr
