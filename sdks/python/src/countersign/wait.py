"""Waiting for a decision by push, without a gap (``packages/client/src/wait.ts``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamManager

from .errors import CountersignError, WaitTimeoutError
from .events import EventRefusal, decode_approval_event
from .models import Approval
from .subjects import Streams, Subjects

log = logging.getLogger("countersign")


def _decoded(data: bytes) -> Approval | CountersignError | None:
    """The approval a decided event carries. A message that is not an event is ignored (only the
    approval service may publish here); an event of a version this client cannot read is an
    error, or the caller would wait forever for a decision that was made."""
    result = decode_approval_event(data)
    if isinstance(result, EventRefusal):
        return result.error if result.reason == "unsupported_version" else None
    return result.data


class ReconnectWatcher:
    """Calls listeners after every reconnect of one connection, however many callers wait.

    nats-py takes its ``reconnected_cb`` only at connect time, so the watcher chains itself in
    front of the callback the connection already has (keeping it). A core subscription misses
    what was published while the connection was down; the listeners re-read the stream.
    """

    _ATTR = "_countersign_reconnect_watcher"

    def __init__(self) -> None:
        self._listeners: set[Callable[[], Awaitable[None]]] = set()
        # Strong references to running re-reads (the event loop keeps only weak ones).
        self._running: set[asyncio.Future[None]] = set()

    @classmethod
    def of(cls, nc: NATS) -> ReconnectWatcher:
        watcher: ReconnectWatcher | None = getattr(nc, cls._ATTR, None)
        if watcher is None:
            watcher = cls()
            previous = nc._reconnected_cb  # no public way to add a listener later

            async def reconnected() -> None:
                if previous is not None:
                    await previous()
                await watcher.notify()

            nc._reconnected_cb = reconnected
            setattr(nc, cls._ATTR, watcher)
        return watcher

    def on_reconnect(self, listener: Callable[[], Awaitable[None]]) -> Callable[[], None]:
        """Registers a listener; returns its removal."""
        self._listeners.add(listener)
        return lambda: self._listeners.discard(listener)

    async def notify(self) -> None:
        # Listeners run as tasks: the client's reconnect loop must not wait on stream reads.
        for listener in list(self._listeners):
            task = asyncio.ensure_future(listener())
            self._running.add(task)
            task.add_done_callback(self._running.discard)


async def wait_for_decided(
    nc: NATS,
    jsm: JetStreamManager,
    action_id: str,
    timeout: float | None = None,
    request_hash: str | None = None,
    on_mismatch: Callable[[Approval], Awaitable[Exception | None]] | None = None,
) -> Approval:
    """Returns the approval once ``approval.decided.<id>`` exists, by push.

    It subscribes first and then reads the last message on that subject from the stream, so a
    decision made before the call is seen at once and one made after arrives on the
    subscription, with no gap. After a reconnect it reads the stream again. No polling.
    ``timeout`` is this caller's wait in seconds (None: forever); cancelling the task stops
    the wait too, and neither touches the approval.

    A decided event for another action_id, or (when ``request_hash`` is given) for another
    request under this id, is ignored and logged: anyone who may publish on the subject could
    have sent it. ``on_mismatch`` is then asked: an exception it returns ends the wait (the id
    holds another request), None keeps waiting.
    """
    subject = Subjects.decided(action_id)
    loop = asyncio.get_running_loop()
    outcome: asyncio.Future[Approval] = loop.create_future()

    checks: set[asyncio.Future[None]] = set()

    async def check(approval: Approval) -> None:
        if on_mismatch is None:
            return
        with contextlib.suppress(Exception):
            error = await on_mismatch(approval)
            if error is not None and not outcome.done():
                outcome.set_exception(error)

    def settle(decoded: Approval | CountersignError | None) -> None:
        if outcome.done() or decoded is None:
            return
        if isinstance(decoded, CountersignError):
            outcome.set_exception(decoded)
            return
        mismatch = (
            "action_id"
            if decoded.action_id != action_id
            else "request_hash"
            if request_hash is not None and decoded.request_hash != request_hash
            else None
        )
        if mismatch is None:
            outcome.set_result(decoded)
            return
        log.warning(
            "ignored a decided event that does not match the request waited for",
            extra={
                "action_id": action_id,
                "event_action_id": decoded.action_id,
                "expected_request_hash": request_hash,
                "event_request_hash": decoded.request_hash,
                "mismatch": mismatch,
            },
        )
        task = asyncio.ensure_future(check(decoded))
        checks.add(task)
        task.add_done_callback(checks.discard)

    async def on_message(msg: Msg) -> None:
        settle(_decoded(msg.data))

    async def read_stored() -> None:
        try:
            stored = await jsm.get_last_msg(Streams.EVENTS, subject)
        except Exception:
            # Not decided yet (no message), or the stream is briefly unreachable (reconnecting,
            # leader election): the live subscription and the next reconnect read cover it.
            return
        if stored.data:
            settle(_decoded(stored.data))

    watcher = ReconnectWatcher.of(nc)
    sub = await nc.subscribe(subject, cb=on_message)
    stop_watching = watcher.on_reconnect(read_stored)
    reader: asyncio.Task[Any] | None = None
    try:
        # Make sure the server has the subscription before reading the stream (no gap). A
        # connection that is down cannot flush: the read after its reconnect covers it.
        try:
            await nc.flush()
        except Exception:
            pass
        else:
            reader = asyncio.ensure_future(read_stored())
        try:
            return await asyncio.wait_for(asyncio.shield(outcome), timeout)
        except asyncio.TimeoutError:
            if outcome.done():
                return outcome.result()
            raise WaitTimeoutError(action_id, timeout or 0) from None
    finally:
        stop_watching()
        if reader is not None and not reader.done():
            reader.cancel()
        for task in list(checks):
            task.cancel()
        if not outcome.done():
            outcome.cancel()
        with contextlib.suppress(Exception):
            await sub.unsubscribe()
