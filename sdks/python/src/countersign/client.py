"""The requester SDK (``packages/client/src/client.ts``): requests go to the durable intake
stream, decisions arrive by push."""

from __future__ import annotations

import asyncio
import dataclasses
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from nats.aio.client import Client as NATS
from nats.js import JetStreamContext, JetStreamManager
from pydantic import BaseModel, ValidationError

from .call import call_endpoint, encode
from .connect import ConnectOptions
from .errors import ForbiddenError, IdempotencyConflictError, InvalidRequestError, UnavailableError, outcome_of
from .identity import IdentityError, inbox_prefix_of, wire_identity
from .models import (
    Approval,
    ApprovalRequest,
    ApprovalWithHistory,
    AuditEvent,
    CancelRequest,
    DecideRequest,
    Jwks,
    ListRequest,
    ListResponse,
    PolicyDecision,
    ReportRequest,
    StatsResponse,
    invalid_request,
)
from .receipts import ReceiptKeys, check_approval_receipt
from .request_hash import request_hash
from .subjects import Endpoints, Headers, Subjects
from .wait import ReconnectWatcher, wait_for_decided

R = TypeVar("R", bound=BaseModel)

#: A request as a mapping or model; ``action_id`` may be left out (the client makes one up), and
#: ``requested_by`` too when the client has an identity (it is that identity).
RequestInput = Mapping[str, Any] | ApprovalRequest


def new_action_id(prefix: str = "act") -> str:
    """A valid action_id from a prefix: subject-token safe, unique."""
    clean = re.sub(r"^[^A-Za-z0-9]+", "", re.sub(r"[^A-Za-z0-9_-]", "-", prefix))[:80] or "act"
    return f"{clean}-{uuid.uuid4()}"


def _validated(model: type[R], value: Mapping[str, Any]) -> R:
    """Local validation with the contract's bounds, failing with the typed InvalidRequestError."""
    try:
        return model.model_validate(dict(value))
    except ValidationError as err:
        raise invalid_request(err) from None


def _client_identity(identity: str) -> str:
    """The canonical form of a client's identity option, or InvalidRequestError naming it."""
    try:
        return wire_identity(identity)
    except IdentityError as err:
        raise InvalidRequestError(
            "invalid_request",
            f"invalid request: identity: {err}",
            {"fields": [{"path": "identity", "message": str(err)}]},
        ) from None


def approval_request(request: RequestInput | None = None, **fields: Any) -> ApprovalRequest:
    """Builds a validated request from a mapping and/or keywords, making up a missing action_id."""
    if isinstance(request, ApprovalRequest):
        values: dict[str, Any] = {**request.model_dump(exclude_none=True), **fields}
    else:
        values = {**(request or {}), **fields}
    if values.get("action_id") is None:
        action_type = values.get("action_type")
        values["action_id"] = new_action_id(action_type if isinstance(action_type, str) else "act")
    return _validated(ApprovalRequest, values)


@dataclass(frozen=True)
class RequestReceipt:
    action_id: str
    #: Stream sequence of the request.
    seq: int
    #: True when the stream had already seen this action_id within its duplicate window; the
    #: client then checked that the stored approval (when there is one yet) holds this request.
    duplicate: bool
    #: The hash of the request sent; its approval carries the same ``request_hash``.
    request_hash: str = ""


class CountersignClient:
    """The requester SDK, on an asyncio NATS connection.

    Hand it a connection (``CountersignClient(nc)``; it never closes one it was handed), or let
    it open and own one with :meth:`connect`. ``timeout`` is the per-command reply timeout in
    seconds.

    ``identity`` is who this connection's NATS user is in the directory (``billing-job``,
    ``frank``). Requests and commands are sent under it (``approval.requested.<identity>``,
    ``approval.decide.<identity>``), where NATS lets only that user publish; a request naming
    another ``requested_by`` is refused here (``forbidden``, ``actor_mismatch``), as the service
    would. Without it, each call uses the identity its input names (``requested_by``,
    ``decided_by``, ...).

    Every decision is returned only once its signed receipt verifies (:meth:`verify_receipt`):
    against ``receipt_keys`` (a JWK Set pinned at deploy time) when given, else against the
    service's key set (``approval.keys``), read once and again once for an unknown kid.
    """

    def __init__(
        self,
        nc: NATS,
        *,
        identity: str | None = None,
        timeout: float = 5.0,
        connect_options: ConnectOptions | None = None,
        owns_connection: bool = False,
        receipt_keys: Mapping[str, Any] | None = None,
    ) -> None:
        self.nc = nc
        #: The canonical identity of the ``identity`` option, if given.
        self.identity = None if identity is None else _client_identity(identity)
        self.timeout = timeout
        #: How this client's connection was made, when it made it (the sync decorator reuses it).
        self.connect_options = connect_options
        self._owns_connection = owns_connection
        self._receipt_keys = ReceiptKeys(None if receipt_keys is not None else self._fetch_keys, receipt_keys)
        self._js: JetStreamContext = nc.jetstream(timeout=timeout)
        self._jsm: JetStreamManager = nc.jsm(timeout=timeout)
        # Registered before any wait, so a reconnect is never missed between two waits.
        ReconnectWatcher.of(nc)
        try:
            self.loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            self.loop = None

    @classmethod
    async def connect(
        cls,
        servers: str | list[str] | ConnectOptions | None = None,
        *,
        user: str | None = None,
        password: str | None = None,
        creds: str | None = None,
        token: str | None = None,
        inbox_prefix: str | None = None,
        identity: str | None = None,
        timeout: float = 5.0,
        receipt_keys: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> CountersignClient:
        """Opens a connection this client owns (closed by :meth:`close`). Without ``servers``,
        the connection settings come from ``NATS_URL``, ``NATS_USER``, ``NATS_PASSWORD``,
        ``NATS_CREDS`` and ``NATS_INBOX_PREFIX``; ``options`` go to ``nats.connect``. With an
        ``identity`` and no inbox prefix, replies come to that identity's own inbox
        (``_INBOX_<identity>``), the only one the server lets its user read."""
        canonical = None if identity is None else _client_identity(identity)
        if isinstance(servers, ConnectOptions):
            settings = servers
        elif servers is None and not (user or password or creds or token or inbox_prefix or options):
            settings = ConnectOptions.from_env()
        else:
            settings = ConnectOptions(
                servers=servers or ConnectOptions.from_env().servers,
                user=user,
                password=password,
                creds=creds,
                token=token,
                inbox_prefix=inbox_prefix,
                options=options,
            )
        if canonical is not None and settings.inbox_prefix is None:
            settings = dataclasses.replace(settings, inbox_prefix=inbox_prefix_of(canonical))
        nc = await settings.open()
        return cls(
            nc,
            identity=canonical,
            timeout=timeout,
            connect_options=settings,
            owns_connection=True,
            receipt_keys=receipt_keys,
        )

    async def close(self) -> None:
        """Drains and closes the connection if this client opened it."""
        if self._owns_connection and not self.nc.is_closed:
            await self.nc.drain()

    async def __aenter__(self) -> CountersignClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _call(self, subject: str, body: Mapping[str, Any], response: type[R], actor: str | None = None) -> R:
        return await call_endpoint(self.nc, subject, dict(body), response, self.timeout, actor)

    def _actor(self, named: str | None) -> str | None:
        """Who acts in a call: the client's identity, else the one the input names (canonical)."""
        return self.identity if self.identity is not None else named

    def _new_request(self, request: RequestInput | None, fields: dict[str, Any]) -> ApprovalRequest:
        """The request to send: validated, with an action_id, and requested by this client's identity."""
        named = fields.get("requested_by") or (
            request.requested_by if isinstance(request, ApprovalRequest) else (request or {}).get("requested_by")
        )
        if named is None and self.identity is not None:
            fields = {**fields, "requested_by": self.identity}
        validated = approval_request(request, **fields)
        if self.identity is not None and validated.requested_by != self.identity:
            # The service would refuse it (actor_mismatch) after storing the message; say so now.
            raise ForbiddenError(
                "forbidden",
                f"requested_by ({validated.requested_by}) is not this client's identity ({self.identity})",
                {"reasons": [{"code": "actor_mismatch", "message": "requested_by names someone else"}]},
            )
        return validated

    async def request(self, request: RequestInput | None = None, /, **fields: Any) -> RequestReceipt:
        """Publishes the request to the durable intake (``approval.requested.<identity>``,
        ``Nats-Msg-Id`` = action_id) and returns once the stream has stored it. Validated locally
        first, so a bad request fails here with the field named instead of as a rejected approval
        later. When the stream calls it a duplicate, the stored approval must hold this very
        request (same ``request_hash``): otherwise IdempotencyConflictError."""
        validated = self._new_request(request, fields)
        receipt = await self._publish(validated)
        if receipt.duplicate:
            conflict = await self._conflict_of(validated, receipt.request_hash)
            if conflict is not None:
                raise conflict
        return receipt

    async def _publish(self, validated: ApprovalRequest) -> RequestReceipt:
        subject = Subjects.requested_by(validated.requested_by)
        data = encode(validated.to_wire())
        try:
            ack = await self._js.publish(
                subject,
                data,
                timeout=self.timeout,
                headers={Headers.MSG_ID: validated.action_id},
            )
        except Exception as err:
            raise UnavailableError(
                "unavailable",
                f"the intake stream did not accept {validated.action_id}: {err!r}",
                {"subject": subject},
            ) from err
        return RequestReceipt(validated.action_id, ack.seq, bool(ack.duplicate), request_hash(validated))

    async def _conflict_of(self, validated: ApprovalRequest, sent_hash: str) -> IdempotencyConflictError | None:
        """The IdempotencyConflictError when the approval stored under the action_id answers
        another request; None when it is this one, or none is stored yet, or the service does not
        answer (the wait, bound to the hash, still never takes another request's decision)."""
        try:
            stored = await self.get(validated.action_id)
        except Exception:
            return None
        if stored.request_hash == sent_hash:
            return None
        taken = stored.requested_by != validated.requested_by
        reason = (
            {"code": "action_id_taken", "message": "another requester filed this action_id first"}
            if taken
            else {"code": "content_differs", "message": "the stored request differs from the one sent"}
        )
        return IdempotencyConflictError(
            "idempotency_conflict",
            f"action_id {validated.action_id} is held by another requester ({stored.requested_by})"
            if taken
            else f"action_id {validated.action_id} was already submitted with different content",
            {
                "action_id": validated.action_id,
                "request_hash": sent_hash,
                "stored_request_hash": stored.request_hash,
                "reasons": [reason],
            },
        )

    async def wait_for_decision(self, action_id: str, *, timeout: float | None = None) -> Approval:
        """Waits for the decision by push. Returns the approval when approved; raises
        ApprovalRejectedError, ApprovalExpiredError or ApprovalCancelledError otherwise,
        WaitTimeoutError when this caller's own ``timeout`` (seconds) runs out (the approval stays
        pending), and InvalidRequestError naming ``version`` when the decided event was written in
        an envelope version this client does not read (upgrade the client). Cancelling the
        awaiting task stops the wait without touching the approval."""
        return outcome_of(await self.wait_for_outcome(action_id, timeout=timeout))

    async def wait_for_outcome(self, action_id: str, *, timeout: float | None = None) -> Approval:
        """Like :meth:`wait_for_decision`, but returns any terminal approval instead of raising
        (a receipt that does not verify still raises ReceiptInvalidError)."""
        approval = await wait_for_decided(self.nc, self._jsm, action_id, timeout)
        await self.verify_receipt(approval)
        return approval

    async def _fetch_keys(self) -> dict[str, Any]:
        return (await self._call(Endpoints.KEYS, {}, Jwks)).model_dump()

    async def verify_receipt(self, approval: Approval, request_hash: str | None = None) -> dict[str, Any]:
        """Checks the receipt of a terminal approval: signed by a trusted key and attesting this
        approval's action_id and status, and ``request_hash`` when given. Returns its claims;
        raises ReceiptInvalidError (with a ``code``) otherwise."""
        return await check_approval_receipt(self._receipt_keys, approval, request_hash)

    async def request_and_wait(
        self, request: RequestInput | None = None, /, *, timeout: float | None = None, **fields: Any
    ) -> Approval:
        """:meth:`request` + :meth:`wait_for_decision`, bound to the request: only an approval
        whose ``request_hash`` is the hash of what was sent returns. When the action_id holds
        another request (filed first by anyone, with any content), it raises
        IdempotencyConflictError instead of waiting on or taking that request's decision. The
        decision's receipt must verify and attest this request: otherwise ReceiptInvalidError."""
        validated = self._new_request(request, fields)
        receipt = await self._publish(validated)
        # Checked whatever the stream said: past its duplicate window the intake records a
        # conflicting request as an audited conflict only, and no decided event follows.
        conflict = await self._conflict_of(validated, receipt.request_hash)
        if conflict is not None:
            raise conflict

        async def on_mismatch(_: Approval) -> Exception | None:
            return await self._conflict_of(validated, receipt.request_hash)

        approval = await wait_for_decided(
            self.nc, self._jsm, validated.action_id, timeout, receipt.request_hash, on_mismatch
        )
        await self.verify_receipt(approval, receipt.request_hash)
        return outcome_of(approval)

    async def submit(self, request: RequestInput | None = None, /, **fields: Any) -> Approval:
        """Synchronous submit over ``approval.submit``: returns the record as the service stored it.
        The same action_id with different content raises IdempotencyConflictError."""
        validated = self._new_request(request, fields)
        return await self._call(Endpoints.SUBMIT, validated.to_wire(), Approval, validated.requested_by)

    async def get(self, action_id: str) -> ApprovalWithHistory:
        return await self._call(Endpoints.GET, {"action_id": action_id}, ApprovalWithHistory)

    async def history(self, action_id: str) -> list[AuditEvent]:
        """The audit history of an approval."""
        return (await self.get(action_id)).history

    async def list(
        self,
        *,
        status: Literal["pending", "approved", "rejected", "expired", "cancelled"] | None = None,
        run_id: str | None = None,
        action_type: str | None = None,
        requested_by: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> ListResponse:
        query = _validated(
            ListRequest,
            {
                "status": status,
                "run_id": run_id,
                "action_type": action_type,
                "requested_by": requested_by,
                "limit": limit,
                "cursor": cursor,
            },
        )
        return await self._call(Endpoints.LIST, query.model_dump(exclude_none=True), ListResponse)

    async def stats(self) -> StatsResponse:
        return await self._call(Endpoints.STATS, {}, StatsResponse)

    async def decide(
        self,
        action_id: str,
        *,
        approved: bool,
        decided_by: str | None = None,
        reason: str | None = None,
        channel: str | None = None,
    ) -> Approval:
        """A vote, or a paused task's resume, as this client's identity (``approval.decide.<identity>``;
        without an identity, as ``decided_by``); the policy decides whether it may cast it.
        ``decided_by`` may repeat the identity; naming someone else is refused (``forbidden``,
        ``actor_mismatch``) unless this identity relays decisions made on ``channel``."""
        body = _validated(
            DecideRequest,
            {
                "action_id": action_id,
                "approved": approved,
                "decided_by": decided_by,
                "reason": reason,
                "channel": channel,
            },
        )
        return await self._call(
            Endpoints.DECIDE, body.model_dump(exclude_none=True), Approval, self._actor(body.decided_by)
        )

    async def cancel(self, action_id: str, *, cancelled_by: str | None = None, reason: str | None = None) -> Approval:
        """Cancels a pending approval as this client's identity (else as ``cancelled_by``): by
        default the requester, an eligible approver or ops may."""
        body = _validated(CancelRequest, {"action_id": action_id, "cancelled_by": cancelled_by, "reason": reason})
        return await self._call(
            Endpoints.CANCEL, body.model_dump(exclude_none=True), Approval, self._actor(body.cancelled_by)
        )

    async def check_policy(self, request: RequestInput | None = None, /, **fields: Any) -> PolicyDecision:
        """What the policy would decide for this request, without creating anything."""
        validated = self._new_request(request, fields)
        return await self._call(Endpoints.EVALUATE, validated.to_wire(), PolicyDecision)

    async def report_execution(
        self,
        action_id: str,
        *,
        outcome: Literal["executed", "failed"],
        reported_by: str | None = None,
        detail: str | None = None,
        receipt_sha256: str | None = None,
    ) -> Approval:
        """Records how an approved action went (``approval.report.<identity>``): only for approved
        approvals, only by the requester. It lands in the approval's audit history, with
        ``receipt_sha256``, the receipt acted on, when given."""
        body = _validated(
            ReportRequest,
            {
                "action_id": action_id,
                "outcome": outcome,
                "reported_by": reported_by,
                "detail": detail,
                "receipt_sha256": receipt_sha256,
            },
        )
        return await self._call(
            Endpoints.REPORT, body.model_dump(exclude_none=True), Approval, self._actor(body.reported_by)
        )
