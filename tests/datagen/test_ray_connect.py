"""`--ray-address HOST:PORT` where nothing listens fails within seconds, with the address in
one line, instead of Ray's minutes of retries. No cluster is started here."""

from __future__ import annotations

import socket
import time

import pytest

from datagen import ray_exec
from datagen.config import GenerateConfig
from datagen.jobs import run_generate
from tests.conftest import run_cli

ray = pytest.importorskip("ray")


@pytest.fixture
def dead_port():
    """A port on 127.0.0.1 that is bound (so nobody else takes it) but not listening."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    yield sock.getsockname()[1]
    sock.close()


@pytest.mark.parametrize("form", ["{}", "ray://{}"])
def test_an_address_nobody_listens_on_fails_at_once(dead_port, form):
    address = form.format(f"127.0.0.1:{dead_port}")
    start = time.monotonic()
    with pytest.raises(ray_exec.RayError) as caught:
        ray_exec.connect(ray, address)
    assert time.monotonic() - start < 5
    assert str(caught.value) == (
        f"cannot reach a Ray cluster at {address}: nothing answers on 127.0.0.1:{dead_port} "
        "(Connection refused); start one there (ray start --head) or pass --ray-address auto"
    )
    assert not ray.is_initialized()


@pytest.mark.parametrize("address", [None, "auto", "local", "localhost"])
def test_addresses_without_a_port_are_left_to_ray(address):
    ray_exec.check_reachable(address)  # no connection tried, no error


def test_verify_with_a_dead_address_is_one_line_within_seconds(dead_port, tmp_path):
    ws = tmp_path / "w"
    run_generate(GenerateConfig(workspace=str(ws), job="j", tasks="math", count=2, samples=1))
    start = time.monotonic()
    result = run_cli(
        "verify", "-w", str(ws), "--executor", "ray", "--ray-address", f"127.0.0.1:{dead_port}", timeout=60
    )
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"error: cannot reach a Ray cluster at 127.0.0.1:{dead_port}: nothing answers")
    assert time.monotonic() - start < 30  # the interpreter's start and imports; Ray's retries take minutes
