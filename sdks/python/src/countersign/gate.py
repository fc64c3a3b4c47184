"""``@requires_approval``: a function that runs only once its approval is granted
(``packages/client/src/gate.ts``), for ``async def`` and plain ``def`` functions alike."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import inspect
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any, ParamSpec, TypeVar

from .client import CountersignClient, RequestInput
from .connect import ConnectOptions
from .models import Approval
from .receipts import receipt_sha256

P = ParamSpec("P")
T = TypeVar("T")

#: Where the approval is asked: a client, or how to connect (a connection per call then).
ClientSource = CountersignClient | ConnectOptions
RequestBuilder = Callable[..., RequestInput]


async def _approve(client: CountersignClient, request: RequestInput, timeout: float | None) -> Approval:
    return await client.request_and_wait(request, timeout=timeout)


async def _report(client: CountersignClient, approval: Approval, failure: Exception | None) -> None:
    # A failing report never hides the function's own result or error.
    with contextlib.suppress(Exception):
        await client.report_execution(
            approval.action_id,
            outcome="failed" if failure is not None else "executed",
            reported_by=approval.requested_by,
            detail=(str(failure) or type(failure).__name__)[:4000] if failure is not None else None,
            # The receipt the function ran on (request_and_wait verified it).
            receipt_sha256=receipt_sha256(approval.receipt) if approval.receipt else None,
        )


def _run_blocking(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Runs a coroutine to completion from synchronous code: with ``asyncio.run`` when this
    thread has no running event loop, else on a fresh loop in a worker thread (blocking this
    thread would otherwise deadlock the loop it is running)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(make())
    with concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="countersign") as pool:
        return pool.submit(lambda: asyncio.run(make())).result()


def _run_with(source: ClientSource, use: Callable[[CountersignClient], Awaitable[T]]) -> T:
    """Runs ``use(client)`` from synchronous code. A client whose event loop runs in another
    thread is used there; otherwise a connection is opened for the call (from the
    ConnectOptions, or the options the client itself was connected with) and closed after."""
    if isinstance(source, CountersignClient):
        loop = source.loop
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        # Blocking the thread that runs the client's own loop would deadlock it: only a loop
        # running in another thread is used.
        if loop is not None and loop.is_running() and running is not loop:
            return asyncio.run_coroutine_threadsafe(_as_coroutine(use(source)), loop).result()
        if source.connect_options is None:
            raise TypeError(
                "a sync function gated by requires_approval needs ConnectOptions, or a client made "
                "with CountersignClient.connect(), or a client whose event loop runs in another thread"
            )
        options = source.connect_options
        timeout = source.timeout
        identity = source.identity
    else:
        options = source
        timeout = 5.0
        identity = None

    async def once() -> T:
        client = CountersignClient(await options.open(), identity=identity, timeout=timeout, owns_connection=True)
        try:
            return await use(client)
        finally:
            await client.close()

    return _run_blocking(once)


async def _as_coroutine(awaitable: Awaitable[T]) -> T:
    return await awaitable


def requires_approval(
    client: ClientSource,
    request: RequestBuilder | Mapping[str, Any],
    *,
    timeout: float | None = None,
    report: bool = True,
) -> Callable[[Callable[P, T]], Callable[P, T]]:
    """Gates a function: each call asks for approval first and runs the function only once the
    approval is granted (the policy may grant it at once). A rejection, expiry or cancellation
    raises the typed outcome error and the function never runs; so does a decision whose signed
    receipt does not verify or does not attest this request (ReceiptInvalidError). After running, the outcome
    (``executed``, or ``failed`` with the error's message) is reported to the approval's audit
    history, unless ``report`` is False.

    ``request`` builds the approval request from the call's arguments (or is a fixed mapping;
    leave out ``action_id`` so every call gets its own). ``timeout`` is the wait in seconds.

    An ``async def`` function waits on the running event loop with ``client``. A plain ``def``
    function blocks its caller while it waits: with a client whose event loop runs in another
    thread, the wait runs there; otherwise it runs on a fresh event loop (``asyncio.run``, or
    in a worker thread when the calling thread already runs a loop) with a connection opened
    for the call from ``ConnectOptions`` (or the options the client was connected with).
    """

    def build(*args: Any, **kwargs: Any) -> RequestInput:
        return request(*args, **kwargs) if callable(request) else dict(request)

    def decorate(fn: Callable[P, T]) -> Callable[P, T]:
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def gated_async(*args: P.args, **kwargs: P.kwargs) -> Any:
                if isinstance(client, CountersignClient):
                    return await _gate_async(client, fn, build(*args, **kwargs), timeout, report, args, kwargs)
                conn = CountersignClient(await client.open(), owns_connection=True)
                try:
                    return await _gate_async(conn, fn, build(*args, **kwargs), timeout, report, args, kwargs)
                finally:
                    await conn.close()

            return gated_async  # type: ignore[return-value]

        @functools.wraps(fn)
        def gated(*args: P.args, **kwargs: P.kwargs) -> T:
            request_input = build(*args, **kwargs)
            approval = _run_with(client, lambda c: _approve(c, request_input, timeout))
            try:
                result = fn(*args, **kwargs)
            except Exception as err:
                # Reported as failed; an interrupt (KeyboardInterrupt, SystemExit) is not waited on.
                failure = err
                if report:
                    _run_with(client, lambda c: _report(c, approval, failure))
                raise
            if report:
                _run_with(client, lambda c: _report(c, approval, None))
            return result

        return gated

    return decorate


async def _gate_async(
    client: CountersignClient,
    fn: Callable[..., Any],
    request: RequestInput,
    timeout: float | None,
    report: bool,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Any:
    approval = await _approve(client, request, timeout)
    try:
        result = await fn(*args, **kwargs)
    except Exception as err:
        # Reported as failed; a cancelled task is not held up by a report.
        if report:
            await _report(client, approval, err)
        raise
    if report:
        await _report(client, approval, None)
    return result
