"""Pause and resume for agents, and the LangChain tools built on them."""

from __future__ import annotations

import asyncio

import pytest
from conftest import System, connect, run, unique, wait_until

from countersign import ApprovalRejectedError, ForbiddenError, list_paused, pause, resume


def test_resume_wakes_the_paused_task_and_a_different_owner_is_refused(system: System) -> None:
    async def body() -> None:
        async with await connect(system) as client:
            task_id = unique("task")
            paused = asyncio.ensure_future(
                pause(client, task_id, reason="Waiting for a human to check the plan", owner="agent-7", timeout=30)
            )
            listed = await wait_until(
                lambda: _find(client, task_id),
            )
            assert listed.context["owner"] == "agent-7"
            with pytest.raises(ForbiddenError):
                await resume(client, task_id, owner="agent-8", message="go")
            await resume(client, task_id, owner="agent-7", resumed_by="bob", message="plan looks fine")
            result = await paused
            assert result.message == "plan looks fine"
            assert result.approval.decided_by == "bob"

    run(body())


def test_a_refused_pause_raises_the_rejection(system: System) -> None:
    async def body() -> None:
        async with await connect(system) as client:
            task_id = unique("task-no")
            paused = asyncio.ensure_future(pause(client, task_id, reason="Delete the old bucket?", owner="agent-9"))
            await wait_until(lambda: _find(client, task_id))
            await resume(client, task_id, owner="agent-9", message="keep it", reject=True)
            with pytest.raises(ApprovalRejectedError):
                await paused

    run(body())


async def _find(client, task_id):  # type: ignore[no-untyped-def]
    return next((a for a in await list_paused(client) if a.action_id == task_id), None)


def test_langchain_tools(system: System) -> None:
    from countersign.langchain import countersign_tools

    async def body() -> None:
        async with await connect(system) as client:
            pause_task, resume_task = countersign_tools(client, wait_timeout=30)
            assert (pause_task.name, resume_task.name) == ("pause_task", "resume_task")
            task_id = unique("agent-task")
            paused = asyncio.ensure_future(
                pause_task.ainvoke({"task_id": task_id, "reason": "Check the migration plan", "owner": "agent-3"})
            )
            await wait_until(lambda: _find(client, task_id))
            said = await resume_task.ainvoke(
                {"task_id": task_id, "owner": "agent-3", "resumed_by": "bob", "message": "go ahead"}
            )
            assert said == f"task {task_id} is now approved"
            assert await paused == "resumed by bob: go ahead"

            refused_id = unique("agent-task")
            paused = asyncio.ensure_future(
                pause_task.ainvoke({"task_id": refused_id, "reason": "Drop the table?", "owner": "agent-3"})
            )
            await wait_until(lambda: _find(client, refused_id))
            await resume_task.ainvoke({"task_id": refused_id, "owner": "agent-3", "reject": True, "message": "no"})
            assert (await paused).startswith("not resumed (rejected)")

    run(body())
