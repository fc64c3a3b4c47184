"""Pause and resume for agents, and the LangChain tools built on them."""

from __future__ import annotations

import asyncio

import pytest
from conftest import System, connect, run, unique, wait_until

from countersign import ApprovalRejectedError, ForbiddenError, list_paused, pause, resume


def test_only_the_owner_resumes_the_paused_task(system: System) -> None:
    async def body() -> None:
        async with await connect(system, identity="agent-7") as agent, await connect(system, identity="bob") as bob:
            task_id = unique("task")
            paused = asyncio.ensure_future(
                pause(agent, task_id, reason="Waiting for a human to check the plan", timeout=30)
            )
            listed = await wait_until(lambda: _find(agent, task_id))
            # The owner is the identity that paused, not a field anyone can read and repeat.
            assert listed.requested_by == "agent-7"
            assert "owner" not in listed.context
            with pytest.raises(ForbiddenError) as not_owner:
                await resume(bob, task_id, message="go")
            assert _codes(not_owner.value) == ["not_owner"]
            # Naming the owner in the payload changes nothing: the subject says bob.
            with pytest.raises(ForbiddenError) as posing:
                await resume(bob, task_id, resumed_by="agent-7", message="go")
            assert _codes(posing.value) == ["actor_mismatch"]
            await resume(agent, task_id, message="plan looks fine")
            result = await paused
            assert result.message == "plan looks fine"
            assert result.approval.decided_by == "agent-7"

    run(body())


def test_a_refused_pause_raises_the_rejection(system: System) -> None:
    async def body() -> None:
        # A client without an identity names the owner, and resumes as it.
        async with await connect(system) as client:
            task_id = unique("task-no")
            paused = asyncio.ensure_future(pause(client, task_id, reason="Delete the old bucket?", owner="agent-3"))
            await wait_until(lambda: _find(client, task_id))
            await resume(client, task_id, resumed_by="agent-3", message="keep it", reject=True)
            with pytest.raises(ApprovalRejectedError):
                await paused

    run(body())


def _codes(error: ForbiddenError) -> list[str]:
    return [reason["code"] for reason in (error.details or {}).get("reasons", [])]


async def _find(client, task_id):  # type: ignore[no-untyped-def]
    return next((a for a in await list_paused(client) if a.action_id == task_id), None)


def test_langchain_tools(system: System) -> None:
    from countersign.langchain import countersign_tools

    async def body() -> None:
        async with await connect(system, identity="agent-3") as client:
            pause_task, resume_task = countersign_tools(client, wait_timeout=30)
            assert (pause_task.name, resume_task.name) == ("pause_task", "resume_task")
            task_id = unique("agent-task")
            paused = asyncio.ensure_future(
                pause_task.ainvoke({"task_id": task_id, "reason": "Check the migration plan"})
            )
            await wait_until(lambda: _find(client, task_id))
            said = await resume_task.ainvoke({"task_id": task_id, "message": "go ahead"})
            assert said == f"task {task_id} is now approved"
            assert await paused == "resumed by agent-3: go ahead"

            refused_id = unique("agent-task")
            paused = asyncio.ensure_future(pause_task.ainvoke({"task_id": refused_id, "reason": "Drop the table?"}))
            await wait_until(lambda: _find(client, refused_id))
            await resume_task.ainvoke({"task_id": refused_id, "reject": True, "message": "no"})
            assert (await paused).startswith("not resumed (rejected)")

    run(body())
