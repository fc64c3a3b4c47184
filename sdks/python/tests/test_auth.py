"""The SDK as a least-privilege requester: user and password on the NATS accounts generated from
the test directory, with the requester's own inbox prefix."""

from __future__ import annotations

import asyncio

from conftest import System, payment, pending, run, unique

from countersign import ConnectOptions, CountersignClient


def test_a_requester_user_requests_and_waits(secured_system: System) -> None:
    assert secured_system.users is not None
    requester = secured_system.users["requester"]
    approver = secured_system.users["approver"]

    async def body() -> None:
        # Settings as a deployment would give them, through the environment.
        options = ConnectOptions.from_env(
            {
                "NATS_URL": secured_system.nats_url,
                "NATS_USER": requester["user"],
                "NATS_PASSWORD": requester["password"],
                "NATS_INBOX_PREFIX": requester["inbox_prefix"],
            }
        )
        async with await CountersignClient.connect(options, timeout=10) as client:
            approval = await client.request_and_wait(
                action_type="send_report", description="Weekly report", requested_by="reporter", timeout=30
            )
            assert approval.status == "approved"

            receipt = await client.request(payment(unique("auth"), 1500))
            waiting = asyncio.ensure_future(client.wait_for_decision(receipt.action_id, timeout=30))
            async with await CountersignClient.connect(
                secured_system.nats_url,
                user=approver["user"],
                password=approver["password"],
                inbox_prefix=approver["inbox_prefix"],
                timeout=10,
            ) as people:
                await pending(people, receipt.action_id)
                await people.decide(receipt.action_id, approved=True, decided_by="frank")
            assert (await waiting).decided_by == "frank"

    run(body())
