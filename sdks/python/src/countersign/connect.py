"""Connecting to NATS: the options a requester needs, including the authentication of issue 13
(user and password, a credentials file, a token)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import nats
from nats.aio.client import Client as NATS

DEFAULT_NATS_URL = "nats://127.0.0.1:4222"


@dataclass(frozen=True)
class ConnectOptions:
    """How to reach NATS. ``options`` are passed to ``nats.connect`` as they are."""

    servers: str | list[str] = DEFAULT_NATS_URL
    user: str | None = None
    password: str | None = None
    #: Path of a NATS credentials file (JWT and nkey seed).
    creds: str | None = None
    token: str | None = None
    #: Inbox prefix for replies. The shipped least-privilege NATS configuration lets a
    #: requester read replies only under ``_INBOX_requester`` (so no one reads another's).
    inbox_prefix: str | None = None
    #: Connection name, shown by the NATS monitoring endpoints.
    name: str | None = "countersign-python"
    options: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ConnectOptions:
        """Reads ``NATS_URL`` (comma-separated for several servers), ``NATS_USER``,
        ``NATS_PASSWORD`` and ``NATS_CREDS`` as the services do, and ``NATS_INBOX_PREFIX``."""
        env = os.environ if env is None else env
        url = env.get("NATS_URL") or DEFAULT_NATS_URL
        servers = [s.strip() for s in url.split(",") if s.strip()]
        return cls(
            servers=servers if len(servers) > 1 else servers[0],
            user=env.get("NATS_USER") or None,
            password=env.get("NATS_PASSWORD") or None,
            creds=env.get("NATS_CREDS") or None,
            inbox_prefix=env.get("NATS_INBOX_PREFIX") or None,
        )

    async def open(self) -> NATS:
        """Connects; the connection reconnects forever, as a waiting requester's should."""
        kwargs: dict[str, Any] = {
            "servers": self.servers,
            "max_reconnect_attempts": -1,
            "reconnect_time_wait": 0.5,
        }
        if self.name:
            kwargs["name"] = self.name
        if self.user is not None:
            kwargs["user"] = self.user
        if self.password is not None:
            kwargs["password"] = self.password
        if self.creds is not None:
            kwargs["user_credentials"] = self.creds
        if self.token is not None:
            kwargs["token"] = self.token
        if self.inbox_prefix is not None:
            kwargs["inbox_prefix"] = self.inbox_prefix
        kwargs.update(self.options)
        return await nats.connect(**kwargs)
