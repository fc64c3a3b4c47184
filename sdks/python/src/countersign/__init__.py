"""Countersign's requester SDK for Python: ask before doing something sensitive, wait for the
decision by push, act only when approved. See the README for a quick start."""

from .client import CountersignClient, RequestInput, RequestReceipt, approval_request, new_action_id
from .connect import ConnectOptions
from .errors import (
    ERROR_CODES,
    AlreadyDecidedError,
    AlreadyExpiredError,
    ApprovalCancelledError,
    ApprovalExpiredError,
    ApprovalOutcomeError,
    ApprovalRejectedError,
    CountersignError,
    ForbiddenError,
    IdempotencyConflictError,
    InternalError,
    InvalidRequestError,
    NotFoundError,
    PayloadTooLargeError,
    UnavailableError,
    WaitTimeoutError,
    typed_error,
)
from .events import APPROVAL_EVENT_VERSION, EventRefusal, check_approval_event, decode_approval_event
from .gate import requires_approval
from .helpers import request_billing_approval, request_code_execution_approval, request_deployment_approval
from .identity import (
    SYSTEM_ACTORS,
    IdentityError,
    canonical_identity,
    inbox_prefix_of,
    is_system_actor,
    wire_identity,
)
from .models import (
    Approval,
    ApprovalEvent,
    ApprovalRequest,
    ApprovalWithHistory,
    AuditEvent,
    ListResponse,
    PolicyDecision,
    StatsResponse,
    Vote,
)
from .pause import TASK_PAUSE, ResumeResult, list_paused, pause, resume
from .receipts import RECEIPT_TYP, ReceiptInvalidError, ReceiptKeys, receipt_sha256, verify_receipt
from .subjects import Endpoints, Streams, Subjects, actor_subject

__version__ = "0.1.0"
#: The version of the wire contract (@countersign/contracts) this SDK speaks: it works with
#: services of the same contract major and at least this minor (during 0.x, the same minor).
CONTRACT_VERSION = "0.1.0"

__all__ = [
    "APPROVAL_EVENT_VERSION",
    "CONTRACT_VERSION",
    "ERROR_CODES",
    "RECEIPT_TYP",
    "SYSTEM_ACTORS",
    "TASK_PAUSE",
    "AlreadyDecidedError",
    "AlreadyExpiredError",
    "Approval",
    "ApprovalCancelledError",
    "ApprovalEvent",
    "ApprovalExpiredError",
    "ApprovalOutcomeError",
    "ApprovalRejectedError",
    "ApprovalRequest",
    "ApprovalWithHistory",
    "AuditEvent",
    "ConnectOptions",
    "CountersignClient",
    "CountersignError",
    "Endpoints",
    "EventRefusal",
    "ForbiddenError",
    "IdempotencyConflictError",
    "IdentityError",
    "InternalError",
    "InvalidRequestError",
    "ListResponse",
    "NotFoundError",
    "PayloadTooLargeError",
    "PolicyDecision",
    "ReceiptInvalidError",
    "ReceiptKeys",
    "RequestInput",
    "RequestReceipt",
    "ResumeResult",
    "StatsResponse",
    "Streams",
    "Subjects",
    "UnavailableError",
    "Vote",
    "WaitTimeoutError",
    "__version__",
    "actor_subject",
    "approval_request",
    "canonical_identity",
    "check_approval_event",
    "decode_approval_event",
    "inbox_prefix_of",
    "is_system_actor",
    "list_paused",
    "new_action_id",
    "pause",
    "receipt_sha256",
    "request_billing_approval",
    "request_code_execution_approval",
    "request_deployment_approval",
    "requires_approval",
    "resume",
    "typed_error",
    "verify_receipt",
    "wire_identity",
]
