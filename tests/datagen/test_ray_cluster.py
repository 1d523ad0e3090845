"""`verify --executor ray` on a two-node Ray cluster on this machine
(`ray.cluster_utils.Cluster`: a head and a second node, each a raylet of its own):
the tasks spread over both nodes, and the verdicts are the local pool's."""

from __future__ import annotations

import os
import shutil

import pytest

from datagen.config import GenerateConfig
from datagen.jobs import run_generate
from datagen.verify_runner import run_verify
from tests.conftest import REPO, query

ray = pytest.importorskip("ray")
cluster_utils = pytest.importorskip("ray.cluster_utils")

COLUMNS = (
    "completion_id, verifier, verifier_version, passed, score, extracted, reason, steps, first_error_step"
)


@pytest.fixture(scope="module")
def two_nodes():
    saved = os.environ.get("PYTHONPATH")
    # the nodes' workers import cotmill from this checkout
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), saved]))
    small = {"num_cpus": 1, "object_store_memory": 80 << 20, "include_dashboard": False}
    cluster = cluster_utils.Cluster(initialize_head=True, head_node_args=small)
    try:
        second = cluster.add_node(**{k: v for k, v in small.items() if k != "include_dashboard"})
        cluster.wait_for_nodes()
        ray.init(address=cluster.address, log_to_driver=False)
        yield {cluster.head_node.node_id, second.node_id}
    finally:
        ray.shutdown()
        cluster.shutdown()
        if saved is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = saved


def test_two_nodes_share_the_work_and_store_the_local_verdicts(two_nodes, tmp_path):
    ws = tmp_path / "ray"
    run_generate(GenerateConfig(workspace=str(ws), job="n", tasks="math,logic", count=100, samples=2,
                                error_rate=0.2))  # fmt: skip
    local = tmp_path / "local"
    shutil.copytree(ws, local)
    run_verify(local, workers=2)
    stats = run_verify(ws, executor="ray", shard_rows=20)
    assert stats.judged == 200
    assert stats.nodes == two_nodes  # SPREAD: both nodes judged shards
    sql = f"select {COLUMNS} from verdicts order by completion_id"
    assert query(ws, sql) == query(local, sql)
