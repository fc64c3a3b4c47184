"""The request-hash vectors shared with the TypeScript contract
(packages/contracts/test-vectors/request-hashes.json): the same request must hash the same in
both SDKs and the service, or a requester would take its own approval for a squatted one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from countersign.client import approval_request
from countersign.request_hash import canonical_json, request_hash

VECTORS = json.loads(
    (Path(__file__).resolve().parents[3] / "packages/contracts/test-vectors/request-hashes.json").read_text("utf-8")
)["vectors"]


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_vector(vector: dict) -> None:
    request = approval_request(vector["input"])
    assert canonical_json(request.to_wire()) == vector["canonical"]
    assert request_hash(request) == vector["request_hash"]


def test_floats_written_as_javascript_does() -> None:
    assert canonical_json([2.0, 1e21, 1e-7, 1e-6, 0.1, -0.0, 123456789012345680000.0, 2**60]) == (
        "[2,1e+21,1e-7,0.000001,0.1,0,123456789012345680000,1152921504606847000]"
    )
