"""The real system for the tests: PostgreSQL, nats-server and the policy and approval services,
started once per session by ``start-system.ts`` and stopped when the session ends (closing its
standard input stops it, even if pytest dies)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

import countersign

REPO_ROOT = Path(__file__).resolve().parents[3]
LAUNCHER = Path(__file__).resolve().parent / "start-system.ts"
T = TypeVar("T")


@dataclass(frozen=True)
class System:
    nats_url: str
    http_url: str | None
    process: subprocess.Popen[str]
    #: Directory identity (and ``ops``) -> its NATS {"user", "password"}.
    users: dict[str, dict[str, str]]

    def crash_nats(self) -> None:
        """Kills nats-server and starts it again on the same port and store; returns once it is up."""
        assert self.process.stdin is not None
        self.process.stdin.write("crash-nats\n")
        self.process.stdin.flush()
        assert json.loads(_next_line(self.process, timeout=60)) == {"nats": "restarted"}


@pytest.fixture(scope="session")
def system() -> Iterator[System]:
    """The system with NATS authentication on: each directory identity has a user that may
    publish actor-bound commands only under its own identity and read only its own inbox; the
    ``ops`` user may do anything."""
    yield from _launch()


def _launch(*flags: str) -> Iterator[System]:
    proc = subprocess.Popen(
        ["node", "--import", "tsx", str(LAUNCHER), *flags],
        cwd=REPO_ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=sys.stderr,
        text=True,
    )
    try:
        started = json.loads(_next_line(proc, timeout=180))
        yield System(started["nats_url"], started.get("http_url"), proc, started["users"])
    finally:
        # Closing stdin asks the launcher to stop the services, then the servers.
        if proc.stdin:
            proc.stdin.close()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.terminate()
            proc.wait(timeout=30)


def _next_line(proc: subprocess.Popen[str], timeout: float) -> str:
    result: list[str] = []
    reader = threading.Thread(target=lambda: result.append(proc.stdout.readline() if proc.stdout else ""))
    reader.daemon = True
    reader.start()
    reader.join(timeout)
    if not result or not result[0].strip():
        raise RuntimeError(f"start-system.ts did not answer in {timeout:g} s (exit code {proc.poll()})")
    return result[0]


def run(coro: Awaitable[T]) -> T:
    """Runs one test body on its own event loop (each body opens its own connection)."""
    return asyncio.run(_await(coro))


async def _await(coro: Awaitable[T]) -> T:
    return await asyncio.wait_for(_as_task(coro), timeout=float(os.environ.get("COUNTERSIGN_PY_TEST_TIMEOUT", 90)))


async def _as_task(coro: Awaitable[T]) -> T:
    return await coro


def ops_options(system: System) -> countersign.ConnectOptions:
    """Connection settings of the ``ops`` user, who may publish under any identity."""
    ops = system.users["ops"]
    return countersign.ConnectOptions(servers=system.nats_url, user=ops["user"], password=ops["password"])


async def connect(system: System, identity: str | None = None) -> countersign.CountersignClient:
    """A client acting as ``identity``, authenticated as its NATS user (as ``ops`` for a name
    with no user: not in the directory, or not an identity, to see the refusal). Without an
    identity, as ``ops``, each call under the identity its input names."""
    try:
        user = system.users.get(countersign.canonical_identity(identity)) if identity is not None else None
    except countersign.IdentityError:
        user = None
    user = user or system.users["ops"]
    return await countersign.CountersignClient.connect(
        system.nats_url, user=user["user"], password=user["password"], identity=identity, timeout=10
    )


async def wait_until(check: Callable[[], Awaitable[Any]], timeout: float = 20, interval: float = 0.05) -> Any:
    """Waits on a condition, not a sleep: returns the first truthy result of ``check``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            value = await check()
        except countersign.NotFoundError:
            value = None
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(interval)


async def pending(client: countersign.CountersignClient, action_id: str) -> None:
    await wait_until(lambda: _status_is(client, action_id, "pending"))


async def _status_is(client: countersign.CountersignClient, action_id: str, status: str) -> bool:
    return (await client.get(action_id)).status == status


_counter = 0


def unique(prefix: str) -> str:
    global _counter
    _counter += 1
    return f"{prefix}-py-{os.getpid()}-{_counter}-{countersign.new_action_id('x')[-8:]}"


def payment(action_id: str, amount: float, **extra: Any) -> dict[str, Any]:
    return {
        "action_id": action_id,
        "action_type": "payment",
        "description": f"Pay {amount}",
        "requested_by": "dave",
        "context": {"amount": amount},
        **extra,
    }
