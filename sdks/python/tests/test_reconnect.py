"""A wait survives a nats-server crash and sees a decision made while it was reconnecting."""

from __future__ import annotations

import asyncio

from conftest import System, connect, payment, pending, run, unique, wait_until

import countersign
from countersign import UnavailableError


def test_keeps_waiting_across_a_nats_server_restart(system: System) -> None:
    async def body() -> None:
        async with await connect(system) as client:
            receipt = await client.request(payment(unique("recon"), 1500))
            await pending(client, receipt.action_id)
            waiting = asyncio.ensure_future(client.wait_for_decision(receipt.action_id, timeout=90))
            await asyncio.sleep(0.2)
            await asyncio.to_thread(system.crash_nats)
            # The decision is made as soon as the services are back; the waiter may still be
            # reconnecting, so it must find the decision in the stream rather than on the wire.
            await wait_until(lambda: _decide(client, receipt.action_id), timeout=60, interval=0.2)
            approval = await waiting
            assert (approval.status, approval.decided_by) == ("approved", "frank")

    run(body())


async def _decide(client, action_id: str) -> bool:  # type: ignore[no-untyped-def]
    try:
        await client.decide(action_id, approved=True, decided_by="frank")
    except UnavailableError:
        return False
    return True


class CuttableProxy:
    """A TCP proxy in front of nats-server whose connections the test can cut and restore, so a
    client is away for exactly as long as the test says."""

    def __init__(self, target: str) -> None:
        host, _, port = target.removeprefix("nats://").rpartition(":")
        self.target = (host, int(port))
        self.open = True
        self.writers: list[asyncio.StreamWriter] = []

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return f"nats://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.open:
            writer.close()
            return
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self.writers += [writer, up_writer]
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    def cut(self) -> None:
        self.open = False
        for writer in self.writers:
            writer.close()
        self.writers.clear()

    async def close(self) -> None:
        self.cut()
        self.server.close()
        await self.server.wait_closed()


def test_a_decision_made_while_disconnected_is_read_from_the_stream_on_reconnect(system: System) -> None:
    async def body() -> None:
        proxy = CuttableProxy(system.nats_url)
        url = await proxy.start()
        dave = system.users["dave"]
        waiter = await countersign.CountersignClient.connect(
            countersign.ConnectOptions(
                servers=url, user=dave["user"], password=dave["password"], options={"reconnect_time_wait": 0.2}
            ),
            identity="dave",
            timeout=10,
        )
        try:
            async with await connect(system) as decider:
                receipt = await decider.request(payment(unique("away"), 1500))
                await pending(decider, receipt.action_id)
                waiting = asyncio.ensure_future(waiter.wait_for_decision(receipt.action_id, timeout=60))
                await asyncio.sleep(0.2)
                proxy.cut()
                await wait_until(lambda: _async(not waiter.nc.is_connected))
                await decider.decide(receipt.action_id, approved=True, decided_by="frank")
                # The decided event is in the stream while the waiter is away: it missed it on the wire.
                await wait_until(lambda: _decided_event(decider, receipt.action_id))
                assert not waiting.done()
                proxy.open = True
                approval = await waiting
                assert (approval.status, approval.decided_by) == ("approved", "frank")
        finally:
            await waiter.close()
            await proxy.close()

    run(body())


async def _async(value: bool) -> bool:
    return value


async def _decided_event(client: countersign.CountersignClient, action_id: str) -> bool:
    try:
        await client.nc.jsm().get_last_msg(countersign.Streams.EVENTS, countersign.Subjects.decided(action_id))
    except Exception:  # not there yet
        return False
    return True
