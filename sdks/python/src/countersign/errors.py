"""The error vocabulary (``docs/contract.md``, Errors): one exception class per wire error code,
and the outcomes a waiting requester gets instead of an approval. Codes are mapped by class,
never by matching message text."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from .models import Approval

ErrorCode = Literal[
    "invalid_request",
    "forbidden",
    "not_found",
    "already_decided",
    "idempotency_conflict",
    "expired",
    "payload_too_large",
    "internal",
    "unavailable",
]

#: The HTTP status of each code, also the ``Nats-Service-Error-Code`` header on NATS replies.
ERROR_CODES: dict[str, int] = {
    "invalid_request": 400,
    "forbidden": 403,
    "not_found": 404,
    "already_decided": 409,
    "idempotency_conflict": 409,
    "expired": 410,
    "payload_too_large": 413,
    "internal": 500,
    "unavailable": 503,
}


class CountersignError(Exception):
    """An error that crosses the wire: a code from the vocabulary, a message, JSON-safe details."""

    def __init__(self, code: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details

    @property
    def status(self) -> int:
        return ERROR_CODES.get(self.code, 500)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"


class InvalidRequestError(CountersignError):
    """Malformed JSON, wrong types, missing or unknown fields; ``details["fields"]`` names each."""


class ForbiddenError(CountersignError):
    """A command was refused: self-approval, a missing approver role, a double vote, a wrong owner."""


class NotFoundError(CountersignError):
    pass


class AlreadyDecidedError(CountersignError):
    """The approval already reached a terminal status; ``details`` says which, who and when."""


class IdempotencyConflictError(CountersignError):
    """The same action_id was submitted before with different content."""


class AlreadyExpiredError(CountersignError):
    """A command (decide, cancel, ...) was refused because the approval had already expired
    (code ``expired``). Not :class:`ApprovalExpiredError`, the outcome a waiting requester gets."""


class PayloadTooLargeError(CountersignError):
    pass


class InternalError(CountersignError):
    pass


class UnavailableError(CountersignError):
    """A dependency is down or did not answer in time; retrying later is safe."""


_BY_CODE: dict[str, type[CountersignError]] = {
    "invalid_request": InvalidRequestError,
    "forbidden": ForbiddenError,
    "not_found": NotFoundError,
    "already_decided": AlreadyDecidedError,
    "idempotency_conflict": IdempotencyConflictError,
    "expired": AlreadyExpiredError,
    "payload_too_large": PayloadTooLargeError,
    "internal": InternalError,
    "unavailable": UnavailableError,
}


def typed_error(code: str, message: str, details: dict[str, Any] | None = None) -> CountersignError:
    """Rebuilds the typed error for a code received over the wire (an unknown code is ``internal``)."""
    cls = _BY_CODE.get(code)
    if cls is None:
        return InternalError("internal", f"unknown error code {code!r}: {message}", details)
    return cls(code, message, details)


class ApprovalOutcomeError(Exception):
    """Base of the outcomes a waiting caller can get instead of an approval."""

    def __init__(self, message: str, approval: Approval) -> None:
        super().__init__(message)
        #: The decided approval, with who decided and why.
        self.approval = approval


class ApprovalRejectedError(ApprovalOutcomeError):
    pass


class ApprovalExpiredError(ApprovalOutcomeError):
    """The approval expired without a decision. A command sent to an already expired approval is
    refused with :class:`AlreadyExpiredError` instead."""


class ApprovalCancelledError(ApprovalOutcomeError):
    pass


class WaitTimeoutError(TimeoutError):
    """The caller's own wait ran out. The approval itself is untouched and still pending: wait
    again later, or cancel it."""

    def __init__(self, action_id: str, timeout: float) -> None:
        super().__init__(f"no decision for {action_id} within {timeout:g} s (the approval is still pending)")
        self.action_id = action_id
        self.timeout = timeout


def outcome_of(approval: Approval) -> Approval:
    """Returns an approved approval; raises the typed outcome error for any other terminal status."""
    who = approval.decided_by or "unknown"
    why = f": {approval.decision_reason}" if approval.decision_reason else ""
    if approval.status == "approved":
        return approval
    if approval.status == "rejected":
        raise ApprovalRejectedError(f"{approval.action_id} was rejected by {who}{why}", approval)
    if approval.status == "expired":
        raise ApprovalExpiredError(f"{approval.action_id} expired without a decision", approval)
    if approval.status == "cancelled":
        raise ApprovalCancelledError(f"{approval.action_id} was cancelled by {who}{why}", approval)
    raise RuntimeError(f"{approval.action_id} is still pending")
