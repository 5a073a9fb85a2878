"""One real local Ray for the whole test session (num_cpus=2), shut down by its own handle."""

from collections.abc import Iterator

import pytest

import workers  # noqa: F401  (turns token authentication on before ray is imported)
from workers.cluster import Cluster, connect


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[Cluster]:
    cluster = connect(num_cpus=2)
    yield cluster
    cluster.close()
