from __future__ import annotations

import pytest

from contingency import Plan, load_plan
from contingency_helpers import ARXAN


@pytest.fixture(scope="session")
def arxan() -> Plan:
    return load_plan(ARXAN)
