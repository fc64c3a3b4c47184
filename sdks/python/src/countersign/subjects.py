"""Subjects, stream names and headers of the wire contract (``packages/contracts/src/subjects.ts``)."""

from __future__ import annotations

from typing import Final


class Streams:
    """JetStream stream names. Events use one subject per approval, so last-per-subject reads the latest state."""

    REQUESTS: Final = "APPROVAL_REQUESTS"
    EVENTS: Final = "APPROVAL_EVENTS"


class Subjects:
    #: The intake without an identity: captured, and refused as ``identity_required``.
    REQUESTED: Final = "approval.requested"
    INVALID: Final = "approval.invalid"
    PENDING_ALL: Final = "approval.pending.>"
    DECIDED_ALL: Final = "approval.decided.>"

    @staticmethod
    def requested_by(identity: str) -> str:
        """The intake for one requester. NATS permissions let a user publish only under its own
        identity, so the subject is the server's proof of who asked."""
        return f"approval.requested.{identity}"

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
    #: The public keys receipts are signed with (a JWK Set), read-only.
    KEYS: Final = "approval.keys"
    EVALUATE: Final = "policy.evaluate"
    POLICY_INFO: Final = "policy.info"

    #: The commands that act, with the payload field that may repeat the actor. They are sent to
    #: :func:`actor_subject` (``approval.decide.frank``), which NATS lets only that identity's
    #: user publish to; the service takes the actor from the subject, never from the payload.
    ACTOR_FIELDS: Final = {
        SUBMIT: "requested_by",
        DECIDE: "decided_by",
        CANCEL: "cancelled_by",
        REPORT: "reported_by",
    }


def actor_subject(endpoint: str, identity: str) -> str:
    """Where ``identity`` sends an actor-bound command (``approval.decide.frank``)."""
    if endpoint not in Endpoints.ACTOR_FIELDS:
        raise ValueError(f"{endpoint} is not an actor-bound command")
    return f"{endpoint}.{identity}"


class Headers:
    MSG_ID: Final = "Nats-Msg-Id"
    SERVICE_ERROR: Final = "Nats-Service-Error"
    SERVICE_ERROR_CODE: Final = "Nats-Service-Error-Code"
