"""The operator's VEN and device changes run on SQLite and on PostgreSQL."""

from __future__ import annotations

import pytest


@pytest.fixture
def database_url(any_database_url: str) -> str:
    return any_database_url
