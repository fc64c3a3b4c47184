"""Pause and resume for agents (``packages/client/src/pause.ts``): a paused task is a
``task_pause`` approval, which the default policy always sends to a human, with the task's
owner as the rule for who may resume it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .client import CountersignClient
from .models import Approval

#: The action type of a pause.
TASK_PAUSE = "task_pause"


@dataclass(frozen=True)
class ResumeResult:
    approval: Approval
    #: The resumer's message (the decision reason).
    message: str | None


async def pause(
    client: CountersignClient,
    task_id: str,
    *,
    reason: str,
    owner: str,
    timeout_seconds: int | None = None,
    context: dict[str, Any] | None = None,
    timeout: float | None = None,
) -> ResumeResult:
    """Pauses a task until someone resumes it: creates a ``task_pause`` approval and waits.
    Returns the resume message; raises ApprovalRejectedError when the pause is refused,
    ApprovalExpiredError when nobody resumed in time (``timeout_seconds``, the approval's
    window), WaitTimeoutError when this caller's own ``timeout`` (seconds) ran out."""
    request: dict[str, Any] = {
        "action_id": task_id,
        "action_type": TASK_PAUSE,
        "description": reason,
        "requested_by": owner,
        "context": {**(context or {}), "owner": owner},
    }
    if timeout_seconds:
        request["timeout_seconds"] = timeout_seconds
    approval = await client.request_and_wait(request, timeout=timeout)
    return ResumeResult(approval, approval.decision_reason)


async def resume(
    client: CountersignClient,
    task_id: str,
    *,
    owner: str,
    message: str | None = None,
    resumed_by: str | None = None,
    reject: bool = False,
) -> Approval:
    """Wakes a paused task with a message. ``owner`` must match the pause's owner (else
    ForbiddenError); ``resumed_by`` is who resumes (recorded), the owner by default;
    ``reject`` refuses instead, and the paused task gets ApprovalRejectedError."""
    return await client.decide(
        task_id,
        approved=not reject,
        decided_by=resumed_by or owner,
        owner=owner,
        reason=message or None,
    )


async def list_paused(client: CountersignClient, limit: int = 100) -> list[Approval]:
    """Paused tasks waiting for a resume, newest first."""
    return (await client.list(status="pending", action_type=TASK_PAUSE, limit=limit)).items
