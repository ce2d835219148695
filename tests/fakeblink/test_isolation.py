"""The fake is a test double: no product module imports it or its GraphQL server library, so the
product runs from requirements.txt alone (graphql-core is a dev requirement)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
PRODUCT_PACKAGES = ("blinkpos", "payments", "analytics", "dashboard")
DEV_ONLY = ("fakeblink", "graphql")


def _imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("package", [p for p in PRODUCT_PACKAGES if (REPO_ROOT / p).is_dir()])
def test_the_product_never_imports_the_fake(package: str) -> None:
    offenders = [
        f"{path.relative_to(REPO_ROOT)}: {module}"
        for path in sorted((REPO_ROOT / package).rglob("*.py"))
        for module in sorted(_imported_modules(path))
        if module.split(".")[0] in DEV_ONLY
    ]

    assert offenders == []


def test_graphql_core_is_a_dev_requirement_only() -> None:
    runtime = (REPO_ROOT / "requirements.txt").read_text(encoding="utf-8").lower()
    dev = (REPO_ROOT / "requirements-dev.txt").read_text(encoding="utf-8").lower()

    assert "graphql-core" not in runtime
    assert "graphql-core==" in dev
