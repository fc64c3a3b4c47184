"""The README stays true to the package: its Python blocks compile against it, and its error
table names every code of the contract with the class that exists for it."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import countersign

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_python_blocks_compile_and_import_what_exists() -> None:
    blocks = re.findall(r"```python\n(.*?)```", README, re.S)
    assert len(blocks) >= 3
    for block in blocks:
        tree = ast.parse(block)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("countersign"):
                module = __import__(node.module, fromlist=["_"])
                for alias in node.names:
                    assert hasattr(module, alias.name), f"{node.module}.{alias.name}"


def test_error_table_lists_every_code_with_its_class() -> None:
    rows = dict(re.findall(r"^\| `(\w+)` \| `(\w+)` \|", README, re.M))
    assert set(rows) == set(countersign.ERROR_CODES)
    for code, name in rows.items():
        assert type(countersign.typed_error(code, "x")) is getattr(countersign, name)


def test_states_the_contract_version_it_speaks() -> None:
    """pyproject.toml and the package name the version of @countersign/contracts (docs/upgrading.md)."""
    sdk = Path(__file__).resolve().parents[1]
    contracts = json.loads((sdk.parents[1] / "packages/contracts/package.json").read_text())
    stated = re.search(r'^contract-version = "([^"]+)"$', (sdk / "pyproject.toml").read_text(), re.M)
    assert stated and stated.group(1) == contracts["version"]
    assert contracts["version"] == countersign.CONTRACT_VERSION
