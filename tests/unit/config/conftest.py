from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings read TICKMESH_* variables; tests start from none."""
    for name in list(os.environ):
        if name.upper().startswith("TICKMESH_"):
            monkeypatch.delenv(name)
