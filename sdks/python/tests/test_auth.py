"""The SDK on NATS with authentication: each identity connects as its own user, which the server
lets publish actor-bound commands only under that identity and read replies only in its own inbox
(``_INBOX_<identity>``). What one credential cannot do, whatever the SDK is told."""

from __future__ import annotations

import asyncio

import nats
import pytest
from conftest import System, connect, payment, pending, run, unique

from countersign import ConnectOptions, CountersignClient, ForbiddenError, UnavailableError


def test_a_requester_authenticated_by_password_requests_and_waits(system: System) -> None:
    dave = system.users["dave"]

    async def body() -> None:
        # Settings as a deployment would give them, through the environment.
        options = ConnectOptions.from_env(
            {
                "NATS_URL": system.nats_url,
                "NATS_USER": dave["user"],
                "NATS_PASSWORD": dave["password"],
                "NATS_INBOX_PREFIX": "_INBOX_dave",
            }
        )
        async with await CountersignClient.connect(options, identity="dave", timeout=10) as client:
            approval = await client.request_and_wait(action_type="send_report", description="Weekly report", timeout=30)
            assert (approval.status, approval.requested_by) == ("approved", "dave")

            receipt = await client.request(payment(unique("auth"), 1500))
            waiting = asyncio.ensure_future(client.wait_for_decision(receipt.action_id, timeout=30))
            async with await connect(system, "frank") as frank:
                await pending(frank, receipt.action_id)
                await frank.decide(receipt.action_id, approved=True)
            assert (await waiting).decided_by == "frank"

    run(body())


def test_one_credential_cannot_act_under_another_identity(system: System) -> None:
    bob = system.users["bob"]

    async def body() -> None:
        async with await connect(system, "dave") as dave:
            receipt = await dave.request(payment(unique("quorum"), 1500))
            await pending(dave, receipt.action_id)
        # bob's user, told it is frank: the server drops what it publishes under frank's name.
        async with await CountersignClient.connect(
            system.nats_url,
            user=bob["user"],
            password=bob["password"],
            inbox_prefix="_INBOX_bob",
            identity="frank",
            timeout=2,
        ) as posing:
            with pytest.raises(UnavailableError):
                await posing.decide(receipt.action_id, approved=True)
            with pytest.raises(UnavailableError):
                await posing.cancel(receipt.action_id)
            # Nor may it request as carol, who holds the bypass role.
            as_carol = CountersignClient(posing.nc, identity="carol", timeout=2)
            with pytest.raises(UnavailableError):
                await as_carol.request(payment(unique("carol"), 1500) | {"requested_by": "carol"})
        async with await connect(system, "eve") as eve:
            # Under her own name, eve (no role, not the requester) may not cancel dave's approval.
            with pytest.raises(ForbiddenError) as refused:
                await eve.cancel(receipt.action_id)
            assert refused.value.details and [r["code"] for r in refused.value.details["reasons"]] == [
                "not_allowed_to_cancel"
            ]
            after = await eve.get(receipt.action_id)
            assert (after.status, after.votes) == ("pending", [])

    run(body())


def test_an_unauthenticated_connection_is_refused(system: System) -> None:
    async def body() -> None:
        with pytest.raises(nats.errors.Error, match=r"(?i)authorization"):
            await nats.connect(system.nats_url, allow_reconnect=False)

    run(body())
