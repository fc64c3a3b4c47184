"""Request, wait and the typed errors, against the real services."""

from __future__ import annotations

import asyncio
import json

import pytest
from conftest import System, connect, payment, pending, run, unique, wait_until

import countersign
from countersign import (
    AlreadyDecidedError,
    ApprovalCancelledError,
    ApprovalExpiredError,
    ApprovalRejectedError,
    ForbiddenError,
    IdempotencyConflictError,
    InvalidRequestError,
    NotFoundError,
    WaitTimeoutError,
)


def test_auto_approved_request_returns_at_once(system: System) -> None:
    async def body() -> None:
        async with await connect(system) as client:
            approval = await client.request_and_wait(
                action_type="send_report", description="Weekly report", requested_by="test-requester"
            )
            assert approval.status == "approved"
            assert approval.decided_by == "policy"
            assert approval.action_id.startswith("send_report-")

    run(body())


def test_decision_by_another_identity_over_nats_wakes_the_waiter(system: System) -> None:
    async def body() -> None:
        async with await connect(system) as client:
            receipt = await client.request(payment(unique("after"), 1500))
            waiting = asyncio.ensure_future(client.wait_for_decision(receipt.action_id, timeout=30))
            await pending(client, receipt.action_id)
            # frank (finance) decides with a raw command under his identity, as any other tool
            # would: the subject says who acts, the payload need not.
            reply = await client.nc.request(
                "approval.decide.frank",
                json.dumps({"action_id": receipt.action_id, "approved": True}).encode(),
                timeout=10,
            )
            assert json.loads(reply.data)["status"] == "approved"
            approval = await waiting
            assert approval.status == "approved"
            assert approval.decided_by == "frank"

    run(body())


def test_wait_started_after_the_decision_sees_it(system: System) -> None:
    async def body() -> None:
        async with await connect(system) as client:
            receipt = await client.request(payment(unique("before"), 1500))
            await pending(client, receipt.action_id)
            await client.decide(receipt.action_id, approved=True, decided_by="frank", reason="ok")
            approval = await client.wait_for_decision(receipt.action_id, timeout=10)
            assert (approval.decided_by, approval.decision_reason) == ("frank", "ok")

    run(body())


def test_rejection_raises_the_typed_outcome(system: System) -> None:
    async def body() -> None:
        async with await connect(system) as client:
            receipt = await client.request(payment(unique("rej"), 1500))
            waiting = asyncio.ensure_future(client.wait_for_decision(receipt.action_id, timeout=30))
            await pending(client, receipt.action_id)
            await client.decide(receipt.action_id, approved=False, decided_by="frank", reason="no")
            with pytest.raises(ApprovalRejectedError) as rejected:
                await waiting
            assert rejected.value.approval.decision_reason == "no"

            # The policy's own refusal is the same outcome, decided by "policy".
            with pytest.raises(ApprovalRejectedError) as denied:
                await client.request_and_wait(payment(unique("deny"), 2_000_000), timeout=30)
            assert denied.value.approval.decided_by == "policy"

    run(body())


def test_expired_and_cancelled_outcomes(system: System) -> None:
    async def body() -> None:
        async with await connect(system) as client:
            with pytest.raises(ApprovalExpiredError) as expired:
                await client.request_and_wait(payment(unique("exp"), 1500, timeout_seconds=1), timeout=30)
            assert expired.value.approval.status == "expired"

            receipt = await client.request(payment(unique("can"), 1500))
            await pending(client, receipt.action_id)
            await client.cancel(receipt.action_id, cancelled_by="dave", reason="not needed")
            with pytest.raises(ApprovalCancelledError):
                await client.wait_for_decision(receipt.action_id, timeout=10)

    run(body())


def test_re_requesting_the_same_action_is_idempotent(system: System) -> None:
    async def body() -> None:
        async with await connect(system) as client:
            request = payment(unique("idem"), 1500)
            first = await client.request(request)
            again = await client.request(request)
            assert not first.duplicate
            assert again.duplicate and again.action_id == first.action_id
            await pending(client, first.action_id)
            # The synchronous submit of the same content returns the stored approval.
            stored = await client.submit(request)
            assert stored.status == "pending"
            assert stored.created_at == (await client.get(first.action_id)).created_at

    run(body())


def test_conflicting_reuse_of_an_action_id_raises_the_conflict_error(system: System) -> None:
    async def body() -> None:
        async with await connect(system) as client:
            request = payment(unique("conflict"), 1500)
            await client.submit(request)
            with pytest.raises(IdempotencyConflictError) as conflict:
                await client.submit({**request, "description": "something else"})
            assert conflict.value.code == "idempotency_conflict"
            assert conflict.value.status == 409

    run(body())


def test_command_errors_are_typed(system: System) -> None:
    async def body() -> None:
        async with await connect(system) as client:
            approval = await client.submit(payment(unique("cmd"), 1500))
            with pytest.raises(ForbiddenError):
                await client.decide(approval.action_id, approved=True, decided_by="dave")
            await client.decide(approval.action_id, approved=True, decided_by="frank")
            with pytest.raises(AlreadyDecidedError) as again:
                await client.decide(approval.action_id, approved=True, decided_by="alice")
            assert again.value.details and again.value.details["decided_by"] == "frank"
            with pytest.raises(NotFoundError):
                await client.get(unique("missing"))
            # Refused locally, before anything is sent, with the field named.
            with pytest.raises(InvalidRequestError) as invalid:
                await client.request(action_type="payment", description="", requested_by="dave")
            assert invalid.value.details and invalid.value.details["fields"][0]["path"] == "description"
            with pytest.raises(InvalidRequestError):
                await client.request(payment(unique("bad"), -1))
            with pytest.raises(countersign.PayloadTooLargeError):
                await client.request(payment(unique("big"), 1, description="x" * 10, context={"blob": "y" * 70_000}))

    run(body())


def test_the_callers_wait_ends_without_touching_the_approval(system: System) -> None:
    async def body() -> None:
        async with await connect(system) as client:
            receipt = await client.request(payment(unique("slow"), 1500))
            with pytest.raises(WaitTimeoutError):
                await client.wait_for_decision(receipt.action_id, timeout=0.3)
            waiting = asyncio.ensure_future(client.wait_for_decision(receipt.action_id))
            await asyncio.sleep(0.1)
            waiting.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiting
            await pending(client, receipt.action_id)

    run(body())


def test_reads_an_unversioned_event_and_refuses_an_unknown_version(system: System) -> None:
    async def body() -> None:
        async with await connect(system) as client:
            approved = await client.request_and_wait(
                action_type="send_report", description="Weekly report", requested_by="test-requester"
            )
            # The same decision (its receipt attests its own action_id) stored again in the old
            # envelope: the stream's last message on its subject, what a waiter reads first.
            envelope = {
                "id": f"{approved.action_id}.decided",
                "type": "approval.decided",
                "occurred_at": approved.decided_at.isoformat() if approved.decided_at else None,
                "data": {**approved.model_dump(mode="json"), "decision_reason": "stored before the version field"},
            }
            await client.nc.jetstream().publish(f"approval.decided.{approved.action_id}", json.dumps(envelope).encode())
            legacy = await client.wait_for_outcome(approved.action_id, timeout=10)
            assert (legacy.action_id, legacy.decision_reason) == (approved.action_id, "stored before the version field")

            newer = unique("newer")
            waiting = asyncio.ensure_future(client.wait_for_outcome(newer, timeout=10))
            await asyncio.sleep(0.2)
            envelope = {
                **envelope,
                "version": 2,
                "id": f"{newer}.decided",
                "data": {**approved.model_dump(mode="json"), "action_id": newer},
            }
            await client.nc.publish(f"approval.decided.{newer}", json.dumps(envelope).encode())
            with pytest.raises(InvalidRequestError, match="unsupported approval event version 2") as refused:
                await waiting
            assert refused.value.details and refused.value.details["fields"][0]["path"] == "version"

    run(body())


def test_execution_report_lands_in_the_history(system: System) -> None:
    async def body() -> None:
        async with await connect(system) as client:
            approval = await client.request_and_wait(
                action_type="send_report", description="Weekly report", requested_by="test-requester"
            )
            await client.report_execution(
                approval.action_id, outcome="executed", reported_by="test-requester", detail="sent to 12"
            )
            history = await wait_until(lambda: _reported(client, approval.action_id))
            assert history.data["outcome"] == "executed"
            with pytest.raises(ForbiddenError):
                await client.report_execution(approval.action_id, outcome="executed", reported_by="eve")

    run(body())


async def _reported(client: countersign.CountersignClient, action_id: str) -> countersign.AuditEvent | None:
    return next((e for e in await client.history(action_id) if e.event == "reported"), None)


def test_check_policy_creates_nothing(system: System) -> None:
    async def body() -> None:
        async with await connect(system) as client:
            action_id = unique("check")
            decision = await client.check_policy(payment(action_id, 1500))
            assert decision.outcome == "needs_approval"
            assert decision.approver_roles == ["finance"]
            with pytest.raises(NotFoundError):
                await client.get(action_id)

    run(body())
