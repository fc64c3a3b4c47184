"""Canonical identities give the answers of the TypeScript implementation: the vectors both
languages are tested against (packages/contracts/test-vectors/identities.json)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import REPO_ROOT

from countersign.identity import IdentityError, canonical_identity, inbox_prefix_of, wire_identity

VECTORS: list[dict[str, Any]] = json.loads(
    (REPO_ROOT / "packages/contracts/test-vectors/identities.json").read_text(encoding="utf-8")
)["vectors"]


def test_the_vectors_cover_both_answers() -> None:
    assert len([v for v in VECTORS if "identity" in v]) > 20
    assert len([v for v in VECTORS if "refused" in v]) > 20
    assert len([v for v in VECTORS if v.get("reserved")]) > 2


@pytest.mark.parametrize("vector", VECTORS, ids=[v["note"] for v in VECTORS])
def test_canonical_identity_matches_the_contract(vector: dict[str, Any]) -> None:
    if "identity" in vector:
        assert canonical_identity(vector["input"]) == vector["identity"]
        if vector.get("reserved"):
            with pytest.raises(IdentityError, match="reserved for Countersign itself"):
                wire_identity(vector["input"])
        else:
            assert wire_identity(vector["input"]) == vector["identity"]
    else:
        with pytest.raises(IdentityError) as refused:
            canonical_identity(vector["input"])
        assert str(refused.value) == vector["refused"]
        with pytest.raises(IdentityError):
            wire_identity(vector["input"])


def test_inbox_prefix_is_one_subject_token() -> None:
    assert inbox_prefix_of("Frank") == "_INBOX_frank"
    assert inbox_prefix_of("john.doe") == "_INBOX_john~doe"
    with pytest.raises(IdentityError):
        inbox_prefix_of("fr\u200bank")
