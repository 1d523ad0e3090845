"""A real Ray of this machine for a test module: `local_ray(num_cpus=2)` as a module fixture.
Ray's workers import cotmill and the test packages from the checkout (a verifier or teacher a
test registers travels to them by reference); a small object store: a shared machine."""

from __future__ import annotations

import os
from contextlib import contextmanager

from tests.conftest import REPO


@contextmanager
def local_ray(**init):
    import ray

    saved = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), saved]))
    # address="local": a Ray of its own even where another runs on this machine (`ray start`)
    ray.init(
        address="local", include_dashboard=False, log_to_driver=False, object_store_memory=100 << 20, **init
    )
    try:
        yield ray
    finally:
        ray.shutdown()
        if saved is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = saved
