"""Who acts: the client sends every command under an identity (``approval.<command>.<identity>``)
and every request to ``approval.requested.<identity>``, canonical, and never lets a payload name
someone else. Against the real services, which bind the actor to the subject."""

from __future__ import annotations

import asyncio
import json

import pytest
from conftest import System, connect, payment, pending, run, unique, wait_until

from countersign import ApprovalRejectedError, ForbiddenError, InvalidRequestError
from countersign.models import Approval


async def _subjects_seen(client, prefix: str) -> tuple[list[str], object]:  # type: ignore[no-untyped-def]
    """Subjects published under ``prefix``, as a plain subscriber sees them (the services still answer)."""
    seen: list[str] = []

    async def record(msg) -> None:  # type: ignore[no-untyped-def]
        seen.append(msg.subject)

    sub = await client.nc.subscribe(prefix, cb=record)
    await client.nc.flush()  # the server has the subscription before anything is sent
    return seen, sub


def test_commands_and_requests_go_out_under_the_canonical_identity(system: System) -> None:
    async def body() -> None:
        # A name typed any way is the one identity: capitals, spaces, fullwidth letters.
        async with (
            await connect(system, identity=" DAVE ") as dave,
            await connect(system, identity="\uff46\uff52\uff41\uff4e\uff4b") as frank,
        ):
            assert (dave.identity, frank.identity) == ("dave", "frank")
            watcher = await connect(system)  # ops: may subscribe to every subject
            seen, _ = await _subjects_seen(watcher, "approval.>")
            receipt = await dave.request(payment(unique("who"), 1500) | {"requested_by": "Dave"})
            await pending(dave, receipt.action_id)
            decided = await frank.decide(receipt.action_id, approved=True, reason="ok")
            assert decided.decided_by == "frank"
            # The watcher's copies travel on another connection: wait for them, not for a time.
            await wait_until(lambda: _has(seen, "approval.requested.dave", "approval.decide.frank"))
            await watcher.close()

            # Without requested_by, a client with an identity requests as it.
            receipt = await dave.request({k: v for k, v in payment(unique("who"), 1500).items() if k != "requested_by"})
            stored = await pending_approval(dave, receipt.action_id)
            assert stored.requested_by == "dave"
            cancelled = await dave.cancel(receipt.action_id, reason="not needed")
            assert cancelled.status == "cancelled"

    run(body())


async def _has(seen: list[str], *subjects: str) -> bool:
    return all(subject in seen for subject in subjects)


async def pending_approval(client, action_id: str) -> Approval:  # type: ignore[no-untyped-def]
    await pending(client, action_id)
    return await client.get(action_id)


def test_a_payload_naming_someone_else_is_refused(system: System) -> None:
    async def body() -> None:
        async with await connect(system, identity="bob") as bob:
            # Refused here, before the intake stores anything.
            action_id = unique("pose")
            with pytest.raises(ForbiddenError) as posing:
                await bob.request(payment(action_id, 1500) | {"requested_by": "carol"})
            assert posing.value.details and posing.value.details["reasons"][0]["code"] == "actor_mismatch"

            async with await connect(system, identity="dave") as dave:
                receipt = await dave.request(payment(unique("vote"), 1500))
                await pending(dave, receipt.action_id)
            # Refused by the service: bob's subject, frank's name in the payload.
            with pytest.raises(ForbiddenError) as mismatch:
                await bob.decide(receipt.action_id, approved=True, decided_by="frank")
            assert mismatch.value.details and [r["code"] for r in mismatch.value.details["reasons"]] == [
                "actor_mismatch"
            ]
            with pytest.raises(ForbiddenError):
                await bob.cancel(receipt.action_id, cancelled_by="dave")
            assert (await bob.get(receipt.action_id)).status == "pending"

    run(body())


def test_a_command_without_an_actor_or_with_a_bad_name_is_refused_locally(system: System) -> None:
    async def body() -> None:
        async with await connect(system) as anonymous:
            with pytest.raises(InvalidRequestError) as missing:
                await anonymous.decide(unique("x"), approved=True)
            assert missing.value.details == {"fields": [{"path": "decided_by", "message": "required: who acts"}]}
            with pytest.raises(InvalidRequestError) as invisible:
                await anonymous.decide(unique("x"), approved=True, decided_by="fr\u200bank")
            assert invisible.value.details and invisible.value.details["fields"][0]["path"] == "decided_by"
            with pytest.raises(InvalidRequestError) as reserved:
                await anonymous.cancel(unique("x"), cancelled_by="Policy")
            assert "reserved" in reserved.value.message
        with pytest.raises(InvalidRequestError) as mixed:
            await connect(system, identity="\u0430lice")  # Cyrillic a
        assert mixed.value.details and mixed.value.details["fields"][0]["path"] == "identity"

    run(body())


def test_a_request_on_the_bare_intake_subject_is_refused(system: System) -> None:
    async def body() -> None:
        async with await connect(system) as client:
            action_id = unique("bare")
            waiting = asyncio.ensure_future(client.wait_for_outcome(action_id, timeout=30))
            await asyncio.sleep(0.2)
            # No identity in the subject: nothing proves who asks, whatever the payload says.
            await client.nc.jetstream().publish(
                "approval.requested",
                json.dumps(payment(action_id, 1500)).encode(),
                headers={"Nats-Msg-Id": action_id},
            )
            refused = await waiting
            assert refused.status == "rejected"
            assert [r.code for r in refused.policy.reasons] == ["identity_required"]
            assert refused.requested_by != "dave"

    run(body())


def test_unknown_requesters_and_requests_a_system_may_not_make_are_rejected(system: System) -> None:
    async def body() -> None:
        async with await connect(system, identity="mallory") as mallory:
            with pytest.raises(ApprovalRejectedError) as unknown:
                await mallory.request_and_wait(payment(unique("who"), 10) | {"requested_by": "mallory"}, timeout=30)
            assert [r.code for r in unknown.value.approval.policy.reasons] == ["unknown_identity"]
        async with await connect(system, identity="ci-pipeline") as pipeline:
            with pytest.raises(ApprovalRejectedError) as not_allowed:
                await pipeline.request_and_wait(
                    payment(unique("pay"), 10) | {"requested_by": "ci-pipeline"}, timeout=30
                )
            assert [r.code for r in not_allowed.value.approval.policy.reasons] == ["not_allowed_to_request"]

    run(body())
