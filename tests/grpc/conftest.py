"""pytest fixtures for the gRPC suites: one plain server per test module."""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rmgrpc  # noqa: E402


@pytest.fixture(scope="module")
def server():
    s = rmgrpc.Server()
    yield s
    s.close()


@pytest.fixture(scope="session")
def pb():
    return rmgrpc.stubs()


@pytest.fixture
def tmp(tmp_path):
    return str(tmp_path)
