"""The moto account of the integration tests, for the cases that go through the function."""

from tests.integration.conftest import world

__all__ = ["world"]
