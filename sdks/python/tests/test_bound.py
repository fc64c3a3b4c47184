"""Bound requests against the real services: an action_id filed first by someone else never
makes a gated function run, and a forged decided event never ends a wait. Every connection
authenticates as the identity it plays; the forger is the ``ops`` connection."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest
from conftest import System, connect, pending, run, unique

from countersign import ApprovalRejectedError, IdempotencyConflictError, requires_approval
from countersign.subjects import Subjects


def billing_payment(action_id: str, amount: float) -> dict[str, Any]:
    return {
        "action_id": action_id,
        "action_type": "payment",
        "description": f"Pay {amount}",
        "context": {"amount": amount, "currency": "EUR"},
    }


def test_squatted_id_never_runs_the_gated_payment(system: System) -> None:
    async def body() -> None:
        action_id = unique("pay")
        async with await connect(system, "dave") as dave, await connect(system, "billing-job") as billing:
            squatter = await dave.request_and_wait(action_id=action_id, action_type="noop", description="nothing")
            assert squatter.status == "approved"
            ran = False

            @requires_approval(billing, lambda invoice, amount: billing_payment(action_id, amount), timeout=15)
            async def pay(invoice: str, amount: float) -> str:
                nonlocal ran
                ran = True
                return "paid"

            with pytest.raises(IdempotencyConflictError) as caught:
                await pay("42", 50_000)
            assert caught.value.code == "idempotency_conflict"
            assert caught.value.details["reasons"][0]["code"] == "action_id_taken"
            assert not ran

    run(body())


def test_reused_id_with_other_content_is_a_conflict(system: System) -> None:
    async def body() -> None:
        action_id = unique("pay")
        async with await connect(system, "billing-job") as billing:
            first = await billing.request(billing_payment(action_id, 1500))
            await pending(billing, action_id)
            assert (await billing.get(action_id)).request_hash == first.request_hash
            again = await billing.request(billing_payment(action_id, 1500))
            assert again.duplicate and again.request_hash == first.request_hash
            with pytest.raises(IdempotencyConflictError) as caught:
                await billing.request(billing_payment(action_id, 50_000))
            assert caught.value.details["reasons"][0]["code"] == "content_differs"

    run(body())


def test_forged_decided_event_does_not_satisfy_a_waiter(system: System, caplog: pytest.LogCaptureFixture) -> None:
    def ignored_records() -> list[logging.LogRecord]:
        return [r for r in caplog.records if "does not match the request" in r.getMessage()]

    async def ignored_at_least(count: int) -> None:
        for _ in range(200):
            if len(ignored_records()) >= count:
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"the waiter logged {len(ignored_records())} ignored events, expected {count}")

    async def body() -> None:
        action_id = unique("pay")
        async with (
            await connect(system, "billing-job") as billing,
            await connect(system, "frank") as frank,
            await connect(system) as ops,
        ):
            waiting = asyncio.ensure_future(billing.request_and_wait(billing_payment(action_id, 1500), timeout=20))
            await pending(billing, action_id)
            real = (await billing.get(action_id)).model_dump(mode="json", exclude={"history"})
            approved = {**real, "status": "approved", "decided_by": "frank", "decided_at": real["created_at"]}
            forgeries = [
                {**approved, "request_hash": "f" * 64},
                {k: v for k, v in approved.items() if k != "request_hash"},
                {**approved, "action_id": f"{action_id}-other"},
            ]
            for count, data in enumerate(forgeries, start=1):
                event = {
                    "version": 1,
                    "id": f"{action_id}.decided",
                    "type": "approval.decided",
                    "occurred_at": real["created_at"],
                    "data": data,
                }
                await ops.nc.publish(Subjects.decided(action_id), json.dumps(event).encode())
                await ops.nc.flush()
                # One at a time: a waiter still subscribing reads only the stream's last event, so
                # each forgery must have reached it before the next replaces it.
                await ignored_at_least(count)
            assert not waiting.done()
            await frank.decide(action_id, approved=False, reason="not this one")
            with pytest.raises(ApprovalRejectedError):
                await waiting

    with caplog.at_level(logging.WARNING, logger="countersign"):
        run(body())
    assert [getattr(r, "mismatch", None) for r in ignored_records()] == ["request_hash", "request_hash", "action_id"]
