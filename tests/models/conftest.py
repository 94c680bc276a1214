from __future__ import annotations

import pytest

from searchengine.data.schema import DataSchema
from searchengine.testing import tiny_schema


@pytest.fixture
def schema() -> DataSchema:
    return tiny_schema(3, 2)
