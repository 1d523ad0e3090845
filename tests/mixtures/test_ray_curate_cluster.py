"""`curate --executor ray` on a two-node Ray cluster on this machine
(`ray.cluster_utils.Cluster`, as tests/datagen/test_ray_cluster.py starts it): the shards
spread over both nodes, and the marks are the local executor's."""

from __future__ import annotations

import shutil

import pytest

from datagen.config import GenerateConfig
from datagen.jobs import run_generate
from mixtures.curate import run_curate
from tests.conftest import query
from tests.datagen.test_ray_cluster import two_nodes  # noqa: F401 (the fixture)

pytest.importorskip("ray")

MARKS = "SELECT kind, item_id, reason, detail FROM curation_marks ORDER BY ALL"


def test_two_nodes_share_the_work_and_store_the_local_marks(two_nodes, tmp_path):  # noqa: F811
    ws = tmp_path / "ray"
    run_generate(GenerateConfig(workspace=str(ws), job="n", tasks="math,logic", count=100, samples=3,
                                error_rate=0.2))  # fmt: skip
    local = tmp_path / "local"
    shutil.copytree(ws, local)
    expected = run_curate(local)
    stats = run_curate(ws, executor="ray", shard_rows=25)
    assert stats.completions == 300 and expected.marks[("completion", "near_dup")] > 0
    assert stats.nodes == two_nodes  # SPREAD: both nodes signed shards
    assert stats.marks == expected.marks
    assert query(ws, MARKS) == query(local, MARKS)
