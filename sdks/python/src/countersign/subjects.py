"""Subjects, stream names and headers of the wire contract (``packages/contracts/src/subjects.ts``)."""

from __future__ import annotations

from typing import Final


class Streams:
    """JetStream stream names. Events use one subject per approval, so last-per-subject reads the latest state."""

    REQUESTS: Final = "APPROVAL_REQUESTS"
    EVENTS: Final = "APPROVAL_EVENTS"


class Subjects:
    REQUESTED: Final = "approval.requested"
    INVALID: Final = "approval.invalid"
    PENDING_ALL: Final = "approval.pending.>"
    DECIDED_ALL: Final = "approval.decided.>"

    @staticmethod
    def pending(action_id: str) -> str:
        return f"approval.pending.{action_id}"

    @staticmethod
    def decided(action_id: str) -> str:
        return f"approval.decided.{action_id}"


class Endpoints:
    """Request/reply command subjects."""

    SUBMIT: Final = "approval.submit"
    DECIDE: Final = "approval.decide"
    CANCEL: Final = "approval.cancel"
    GET: Final = "approval.get"
    LIST: Final = "approval.list"
    STATS: Final = "approval.stats"
    REPORT: Final = "approval.report"
    EVALUATE: Final = "policy.evaluate"
    POLICY_INFO: Final = "policy.info"


class Headers:
    MSG_ID: Final = "Nats-Msg-Id"
    SERVICE_ERROR: Final = "Nats-Service-Error"
    SERVICE_ERROR_CODE: Final = "Nats-Service-Error-Code"
