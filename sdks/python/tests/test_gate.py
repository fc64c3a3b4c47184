"""``@requires_approval`` on async and plain functions: the function runs only once approved."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from conftest import System, connect, ops_options, payment, run, unique, wait_until

import countersign
from countersign import ApprovalRejectedError, requires_approval


def deploy_request(service: str) -> dict[str, Any]:
    return {
        "action_type": "deploy",
        "description": f"Deploy {service} to staging",
        "requested_by": "ci-pipeline",
        "context": {"environment": "staging"},
    }


async def reported(client: countersign.CountersignClient, action_id: str) -> dict[str, Any] | None:
    event = next((e for e in await client.history(action_id) if e.event == "reported"), None)
    return event.data if event else None


def test_async_function_runs_once_approved_and_reports(system: System) -> None:
    async def body() -> None:
        async with await connect(system) as client:
            calls: list[str] = []

            @requires_approval(client, deploy_request)
            async def deploy(service: str) -> str:
                calls.append(service)
                return f"deployed {service}"

            assert await deploy("web") == "deployed web"
            assert calls == ["web"]
            [latest] = (await client.list(requested_by="ci-pipeline", limit=1)).items
            assert (await wait_until(lambda: reported(client, latest.action_id)))["outcome"] == "executed"

    run(body())


def test_async_function_never_runs_when_refused(system: System) -> None:
    async def body() -> None:
        async with await connect(system) as client:
            ran = False

            @requires_approval(client, lambda amount: payment(unique("gate"), amount))
            async def pay(amount: int) -> None:
                nonlocal ran
                ran = True

            with pytest.raises(ApprovalRejectedError):
                await pay(5_000_000)
            assert not ran

    run(body())


def test_sync_function_with_connect_options(system: System) -> None:
    options = ops_options(system)
    calls: list[str] = []

    @requires_approval(options, deploy_request)
    def deploy(service: str) -> str:
        calls.append(service)
        return f"deployed {service}"

    assert deploy("api") == "deployed api"
    assert calls == ["api"]

    ran = False

    @requires_approval(options, lambda amount: payment(unique("sync-gate"), amount))
    def pay(amount: int) -> None:
        nonlocal ran
        ran = True

    with pytest.raises(ApprovalRejectedError):
        pay(5_000_000)
    assert not ran


def test_sync_function_called_from_a_running_event_loop(system: System) -> None:
    """Inside async code (a notebook, an agent loop) the wait runs on a worker thread's loop."""

    async def body() -> None:
        async with await connect(system) as client:
            action_id = unique("failing")

            @requires_approval(
                client,
                {
                    "action_id": action_id,
                    "action_type": "cleanup",
                    "description": "Clean tmp",
                    "requested_by": "test-requester",
                },
            )
            def cleanup() -> None:
                raise OSError("disk full")

            with pytest.raises(OSError, match="disk full"):
                cleanup()
            detail = await wait_until(lambda: reported(client, action_id))
            assert (detail["outcome"], detail["detail"]) == ("failed", "disk full")

    run(body())


def test_sync_function_with_a_client_whose_loop_runs_in_another_thread(system: System) -> None:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        client = asyncio.run_coroutine_threadsafe(
            countersign.CountersignClient.connect(ops_options(system), timeout=10), loop
        ).result(30)
        calls: list[str] = []

        @requires_approval(client, deploy_request, report=False)
        def deploy(service: str) -> str:
            calls.append(service)
            return "ok"

        assert deploy("worker") == "ok"
        assert calls == ["worker"]
        asyncio.run_coroutine_threadsafe(client.close(), loop).result(30)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def test_helpers_build_requests_the_policy_understands(system: System) -> None:
    async def body() -> None:
        async with await connect(system) as client:
            approval = await countersign.request_deployment_approval(
                client, service="api", environment="staging", version="v1.2.3", requested_by="ci-pipeline", timeout=30
            )
            assert (approval.status, approval.action_type) == ("approved", "deploy")
            assert approval.context == {"environment": "staging", "resource": "api", "version": "v1.2.3"}
            with pytest.raises(ApprovalRejectedError):
                await countersign.request_billing_approval(
                    client, amount=5_000_000, currency="EUR", customer="acme", requested_by="billing-job", timeout=30
                )

    run(body())
