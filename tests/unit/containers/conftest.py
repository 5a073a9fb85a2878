import pytest


@pytest.fixture(params=["event", "fast"])
def engine(request: pytest.FixtureRequest) -> str:
    """Runs a test once per engine: the golden cases must hold in both."""
    return request.param
