"""The records and requests of the wire contract as pydantic models (``packages/contracts/src/schemas.ts``).

Requests are checked locally with the contract's bounds (strict types, unknown fields refused),
so a bad request fails with the field named before anything is sent. Records read from the
wire ignore fields they do not know, as the contract's compatibility rule asks of readers.
"""

from __future__ import annotations

import math
import re
import unicodedata
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .errors import InvalidRequestError
from .identity import wire_identity

ACTION_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$"
#: Longest approval window a request or policy may ask for: 7 days.
MAX_TIMEOUT_SECONDS = 604_800
#: Maximum encoded size of any message entering a service.
MAX_PAYLOAD_BYTES = 64 * 1024
#: A request's context may be nested at most this deep (the records embedding it stay small).
MAX_CONTEXT_DEPTH = 32

ApprovalStatus = Literal["pending", "approved", "rejected", "expired", "cancelled"]
TERMINAL_STATUSES = ("approved", "rejected", "expired", "cancelled")


def _has_control(value: str) -> bool:
    return any(unicodedata.category(ch) == "Cc" for ch in value)


def _identity(value: str | None) -> str | None:
    # The contract's Identity field: canonical (the form the services compare), never a system actor.
    return None if value is None else wire_identity(value)


def json_depth(value: Any, stop_above: float = math.inf) -> int:
    """Nesting depth of a JSON value: 0 for a primitive, 1 for ``{}`` or ``[]``. Iterative."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, (list, tuple)):
            children = item
        else:
            continue
        here = depth + 1
        deepest = max(deepest, here)
        if deepest > stop_above:
            return deepest
        stack.extend((child, here) for child in children)
    return deepest


class _Request(BaseModel):
    """What a requester sends: strict types, unknown fields refused (as the services do)."""

    model_config = ConfigDict(extra="forbid", strict=True)


class _Record(BaseModel):
    """What a service answers: unknown fields are ignored, so newer services stay readable."""

    model_config = ConfigDict(extra="ignore")


class RequestContext(BaseModel):
    """Free-form details of the action. Known keys are type-checked because the policy reads
    them; any other key passes through untouched."""

    model_config = ConfigDict(extra="allow", strict=True)

    amount: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    currency: str | None = Field(default=None, max_length=16)
    environment: str | None = Field(default=None, max_length=64)
    bulk: bool | None = None
    item_count: int | None = Field(default=None, ge=0)
    resource: str | None = Field(default=None, max_length=1024)
    command: str | None = Field(default=None, max_length=8192)
    owner: str | None = Field(default=None, max_length=256)


class ApprovalRequest(_Request):
    """A request for approval; ``action_id`` is the idempotency key and the approval's id."""

    action_id: str = Field(pattern=ACTION_ID_PATTERN)
    action_type: str = Field(min_length=1, max_length=64)
    description: str = Field(min_length=1, max_length=2000)
    context: dict[str, Any] = Field(default_factory=dict)
    requested_by: str = Field(min_length=1, max_length=256)
    run_id: str | None = Field(default=None, min_length=1, max_length=256)
    timeout_seconds: int | None = Field(default=None, ge=1, le=MAX_TIMEOUT_SECONDS)

    @field_validator("action_type")
    @classmethod
    def _action_type(cls, value: str) -> str:
        if _has_control(value) or re.search(r"\s", value):
            raise ValueError("must not contain spaces or control characters")
        return value

    @field_validator("requested_by")
    @classmethod
    def _requested_by(cls, value: str) -> str:
        return wire_identity(value)

    @field_validator("context")
    @classmethod
    def _context(cls, value: dict[str, Any]) -> dict[str, Any]:
        if json_depth(value, MAX_CONTEXT_DEPTH) > MAX_CONTEXT_DEPTH:
            raise ValueError(f"must not be nested deeper than {MAX_CONTEXT_DEPTH} levels")
        RequestContext.model_validate(value)
        return value

    def to_wire(self) -> dict[str, Any]:
        """The JSON object sent: optional fields left out rather than sent as null."""
        return self.model_dump(exclude_none=True)


class DecideRequest(_Request):
    """A vote, or a paused task's resume. The actor is the identity the subject proves
    (``approval.decide.<identity>``); ``decided_by`` may repeat it, and naming anyone else is
    refused (``forbidden``, ``actor_mismatch``), except by a relay naming the person whose
    decision on ``channel`` it carries."""

    action_id: str = Field(pattern=ACTION_ID_PATTERN)
    approved: bool
    decided_by: str | None = Field(default=None, min_length=1, max_length=256)
    reason: str | None = Field(default=None, max_length=2000)
    #: A relayed decision: the file-based channel the person decided on.
    channel: str | None = Field(default=None, min_length=1, max_length=128)

    @field_validator("decided_by")
    @classmethod
    def _decided_by(cls, value: str | None) -> str | None:
        return _identity(value)


class CancelRequest(_Request):
    action_id: str = Field(pattern=ACTION_ID_PATTERN)
    #: May repeat the actor (the subject's identity); naming someone else is ``actor_mismatch``.
    cancelled_by: str | None = Field(default=None, min_length=1, max_length=256)
    reason: str | None = Field(default=None, max_length=2000)

    @field_validator("cancelled_by")
    @classmethod
    def _cancelled_by(cls, value: str | None) -> str | None:
        return _identity(value)


class ReportRequest(_Request):
    action_id: str = Field(pattern=ACTION_ID_PATTERN)
    outcome: Literal["executed", "failed"]
    detail: str | None = Field(default=None, max_length=4000)
    #: May repeat the actor (the subject's identity); naming someone else is ``actor_mismatch``.
    reported_by: str | None = Field(default=None, min_length=1, max_length=256)
    #: SHA-256 (hex) of the receipt the requester verified before running.
    receipt_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")

    @field_validator("reported_by")
    @classmethod
    def _reported_by(cls, value: str | None) -> str | None:
        return _identity(value)


class ListRequest(_Request):
    status: ApprovalStatus | None = None
    run_id: str | None = Field(default=None, min_length=1, max_length=256)
    action_type: str | None = Field(default=None, min_length=1, max_length=64)
    requested_by: str | None = Field(default=None, min_length=1, max_length=256)
    limit: int = Field(default=50, ge=1, le=500)
    cursor: str | None = Field(default=None, min_length=1, max_length=512)

    @field_validator("run_id", "action_type", "requested_by")
    @classmethod
    def _no_nul(cls, value: str | None) -> str | None:
        # PostgreSQL cannot store NUL: a filter holding one is refused, not run.
        if value is not None and "\0" in value:
            raise ValueError("must not contain NUL")
        return value


class Reason(_Record):
    code: str
    message: str


class PolicyDecision(_Record):
    outcome: Literal["auto_approve", "needs_approval", "deny"]
    reasons: list[Reason]
    risk: Literal["low", "medium", "high", "critical"]
    required_approvals: int
    approver_roles: list[str]
    timeout_seconds: int
    notify: list[str]
    revision: str
    decision_id: str


class Vote(_Record):
    voter: str
    approved: bool
    reason: str | None
    at: datetime
    # Set when ``voter`` voted as the delegate of this person.
    on_behalf_of: str | None = None


class Approval(_Record):
    action_id: str = Field(pattern=ACTION_ID_PATTERN)
    action_type: str
    description: str
    context: dict[str, Any]
    requested_by: str
    run_id: str | None
    status: ApprovalStatus
    created_at: datetime
    expires_at: datetime
    decided_at: datetime | None
    decided_by: str | None
    decision_reason: str | None
    policy: PolicyDecision
    votes: list[Vote]
    required_approvals: int
    #: sha256 hex of the canonical JSON of the request this approval answers (docs/contract.md,
    #: "Request hash"); None only in events written before the field existed.
    request_hash: str | None = None
    #: The signed decision receipt (docs/contract.md, "Receipts"): None while pending, and on
    #: approvals decided before receipts existed. The client verifies it before returning a decision.
    receipt: str | None = None


class AuditEvent(_Record):
    """One row of an approval's append-only audit trail, hash-chained to the row before it."""

    seq: int
    event: str
    actor: str
    reason: str | None
    data: dict[str, Any]
    at: datetime
    prev_hash: str
    hash: str


class ApprovalWithHistory(Approval):
    history: list[AuditEvent]


class ListResponse(_Record):
    items: list[Approval]
    next_cursor: str | None


class Jwks(_Record):
    """A JWK Set: the public keys receipts are signed with (``approval.keys``)."""

    keys: list[dict[str, Any]]


class StatsResponse(_Record):
    by_status: dict[str, int]
    pending: int
    oldest_pending_age_seconds: float | None
    median_decision_seconds: float | None


class ApprovalEvent(_Record):
    """What ``approval.pending|decided|reminder|escalated.<id>`` carry. Read it with
    :func:`countersign.events.decode_approval_event`, which applies the version rule."""

    version: Literal[1] = 1
    id: str = Field(min_length=1)
    type: Literal["approval.pending", "approval.decided", "approval.reminder", "approval.escalated"]
    occurred_at: datetime
    data: Approval


def field_issues(error: ValidationError) -> list[dict[str, str]]:
    """Pydantic's errors as the contract's ``{path, message}`` pairs (``context.amount``)."""
    return [
        {
            "path": ".".join(str(part) for part in issue["loc"]) or "(root)",
            # A validator's own message reads as the contract's does, without pydantic's prefix.
            "message": issue["msg"].removeprefix("Value error, "),
        }
        for issue in error.errors()
    ]


def invalid_request(error: ValidationError, prefix: str = "invalid request") -> InvalidRequestError:
    fields = field_issues(error)
    summary = "; ".join(f"{f['path']}: {f['message']}" for f in fields[:5])
    return InvalidRequestError("invalid_request", f"{prefix}: {summary}", {"fields": fields})
