"""``pause_task`` and ``resume_task`` as LangChain tools (the ``langchain`` extra:
``pip install 'countersign[langchain]'``).

The tools are async (nats-py is asyncio): call them with ``ainvoke`` or from an async agent.
Outcomes an agent should read (resumed, refused, expired, the wait ran out) come back as text;
a command error (not the task's owner, unknown task) raises as the typed error. The task's owner
is the client's identity: the tools pause and resume as it.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

try:
    from langchain_core.tools import StructuredTool
except ImportError as err:  # pragma: no cover - depends on the environment
    raise ImportError("countersign.langchain needs langchain-core: pip install 'countersign[langchain]'") from err

from .client import CountersignClient
from .errors import ApprovalOutcomeError, WaitTimeoutError
from .pause import pause, resume


class PauseTaskInput(BaseModel):
    task_id: str = Field(description="Id of the task to pause (letters, digits, '_' or '-'); resume uses it")
    reason: str = Field(description="Why the task waits: what the person who resumes it reads")
    timeout_seconds: int | None = Field(default=None, description="How long the pause may last before it expires")


class ResumeTaskInput(BaseModel):
    task_id: str = Field(description="Id of the paused task")
    message: str | None = Field(default=None, description="Message handed to the paused task")
    reject: bool = Field(default=False, description="Refuse the pause instead of resuming it")


def pause_task_tool(client: CountersignClient, *, wait_timeout: float | None = None) -> StructuredTool:
    """The ``pause_task`` tool: pauses until a human resumes, and returns what they said."""

    async def pause_task(task_id: str, reason: str, timeout_seconds: int | None = None) -> str:
        try:
            result = await pause(client, task_id, reason=reason, timeout_seconds=timeout_seconds, timeout=wait_timeout)
        except ApprovalOutcomeError as err:
            return f"not resumed ({err.approval.status}): {err}"
        except WaitTimeoutError as err:
            return f"still paused: {err}"
        who = result.approval.decided_by or "unknown"
        return f"resumed by {who}: {result.message}" if result.message else f"resumed by {who}"

    return StructuredTool.from_function(
        coroutine=pause_task,
        name="pause_task",
        description=(
            "Pause this task until a human resumes it. Use it before anything irreversible or when "
            "unsure. Returns the human's message once resumed."
        ),
        args_schema=PauseTaskInput,
    )


def resume_task_tool(client: CountersignClient) -> StructuredTool:
    """The ``resume_task`` tool: wakes a paused task with a message (or refuses it), as the
    client's identity, which must be the task's owner."""

    async def resume_task(task_id: str, message: str | None = None, reject: bool = False) -> str:
        approval = await resume(client, task_id, message=message, reject=reject)
        return f"task {approval.action_id} is now {approval.status}"

    return StructuredTool.from_function(
        coroutine=resume_task,
        name="resume_task",
        description="Resume a paused task with a message, or refuse it with reject=true.",
        args_schema=ResumeTaskInput,
    )


def countersign_tools(client: CountersignClient, *, wait_timeout: float | None = None) -> list[StructuredTool]:
    """Both tools, ready to hand to an agent."""
    return [pause_task_tool(client, wait_timeout=wait_timeout), resume_task_tool(client)]
