"""The event envelope's reading rules, and the local request checks (no services needed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import countersign
from countersign import EventRefusal, InvalidRequestError, approval_request, decode_approval_event

REPO_ROOT = Path(__file__).resolve().parents[3]

APPROVAL = {
    "action_id": "pay-1",
    "action_type": "payment",
    "description": "Pay 1500",
    "context": {"amount": 1500},
    "requested_by": "dave",
    "run_id": None,
    "status": "approved",
    "created_at": "2026-01-01T00:00:00.000Z",
    "expires_at": "2026-01-02T00:00:00.000Z",
    "decided_at": "2026-01-01T00:05:00.000Z",
    "decided_by": "frank",
    "decision_reason": None,
    "policy": {
        "outcome": "needs_approval",
        "reasons": [{"code": "amount", "message": "over 1000"}],
        "risk": "medium",
        "required_approvals": 1,
        "approver_roles": ["finance"],
        "timeout_seconds": 86400,
        "notify": [],
        "revision": "r1",
        "decision_id": "d1",
    },
    "votes": [],
    "required_approvals": 1,
}
ENVELOPE = {
    "version": 1,
    "id": "pay-1.decided",
    "type": "approval.decided",
    "occurred_at": "2026-01-01T00:05:00.000Z",
    "data": APPROVAL,
}


def test_reads_the_current_version_and_an_envelope_without_one() -> None:
    for envelope in (ENVELOPE, {k: v for k, v in ENVELOPE.items() if k != "version"}):
        event = decode_approval_event(json.dumps(envelope))
        assert isinstance(event, countersign.ApprovalEvent)
        assert (event.version, event.data.decided_by) == (1, "frank")


def test_ignores_fields_it_does_not_know() -> None:
    event = decode_approval_event(json.dumps({**ENVELOPE, "trace": "x", "data": {**APPROVAL, "new": 1}}))
    assert isinstance(event, countersign.ApprovalEvent)


@pytest.mark.parametrize("version", [2, 0, "1", True, None])
def test_refuses_any_other_version_naming_the_field(version: object) -> None:
    refusal = decode_approval_event(json.dumps({**ENVELOPE, "version": version}))
    assert isinstance(refusal, EventRefusal)
    assert refusal.reason == "unsupported_version"
    assert refusal.error.code == "invalid_request"
    assert refusal.error.details and refusal.error.details["fields"][0]["path"] == "version"
    assert refusal.error.details["supported_versions"] == [1]


def test_refuses_what_is_not_an_event() -> None:
    not_json = decode_approval_event(b"{nope")
    assert isinstance(not_json, EventRefusal) and not_json.reason == "not_json"
    invalid = decode_approval_event(json.dumps({**ENVELOPE, "data": {**APPROVAL, "status": "maybe"}}))
    assert isinstance(invalid, EventRefusal) and invalid.reason == "invalid"
    assert invalid.error.details and invalid.error.details["fields"][0]["path"] == "data.status"


def test_requests_are_checked_with_the_contract_bounds() -> None:
    ok = approval_request(action_type="deploy", description="Deploy", requested_by="ci")
    assert ok.action_id.startswith("deploy-")
    assert ok.to_wire() == {
        "action_id": ok.action_id,
        "action_type": "deploy",
        "description": "Deploy",
        "context": {},
        "requested_by": "ci",
    }
    bad = [
        ({"action_id": "has.dot"}, "action_id"),
        ({"action_type": "two words"}, "action_type"),
        ({"requested_by": "eve\n"}, "requested_by"),
        ({"requested_by": "ev\u200be"}, "requested_by"),
        ({"requested_by": "\u0435ve"}, "requested_by"),  # Cyrillic e
        ({"requested_by": "System"}, "requested_by"),
        ({"timeout_seconds": 604_801}, "timeout_seconds"),
        ({"timeout_seconds": "60"}, "timeout_seconds"),
        ({"context": {"amount": -1}}, "amount"),
        ({"context": {"bulk": "yes"}}, "bulk"),
        ({"priority": "high"}, "priority"),
    ]
    for change, field in bad:
        with pytest.raises(InvalidRequestError) as refused:
            approval_request({"action_type": "deploy", "description": "Deploy", "requested_by": "ci", **change})
        assert field in refused.value.details["fields"][0]["path"], change  # type: ignore[index]
    # An identity is sent in its canonical form, the one the services compare.
    assert approval_request(action_type="deploy", description="Deploy", requested_by=" \uff23I ").requested_by == "ci"
    deep: dict[str, object] = {}
    for _ in range(40):
        deep = {"x": deep}
    with pytest.raises(InvalidRequestError, match="nested deeper"):
        approval_request(action_type="deploy", description="Deploy", requested_by="ci", context=deep)


def test_error_codes_map_to_classes() -> None:
    assert type(countersign.typed_error("forbidden", "no")) is countersign.ForbiddenError
    assert type(countersign.typed_error("expired", "late")) is countersign.AlreadyExpiredError
    assert countersign.typed_error("idempotency_conflict", "x").status == 409
    # The wire contract's codes, as the generated JSON Schema of the error body lists them.
    schema = json.loads((REPO_ROOT / "docs/contracts/jsonschema/error.json").read_text())
    assert set(countersign.ERROR_CODES) == set(schema["properties"]["error"]["properties"]["code"]["enum"])


def test_the_installed_wheel_is_what_is_tested() -> None:
    """The test venv installs the built wheel, not the source tree: packaging is tested too."""
    package = Path(countersign.__file__).resolve().parent
    assert "site-packages" in package.parts
    assert (package / "py.typed").is_file()
