"""The Redis broker transport: kombu's, with one Redis client per channel reused.

kombu's Redis channel builds a new `redis.Redis` client object for every command it sends
outside the BRPOP loop (`conn_or_acquire`): when a message is delivered (recorded as
unacknowledged), when it is acknowledged, on every publish. The client shares the
channel's connection pool either way, so the only difference is the object; but building
one copies redis-py's ~170 response callbacks, ~0.2 ms each time: about half of the
worker's main-process CPU per triage message. Here each channel builds one client per
connection pool and reuses it. redis-py clients are made to be shared (every command and
pipeline takes a connection from the pool and returns it), so behaviour is unchanged:
the same commands on the same pool, in the same order.

Acknowledgements: the triage batch task acknowledges its (up to 100) messages together
when the batch returns (triage.tasks.TriageBatches). kombu removes each from the
"unacked" index and hash with a transaction of its own; inside `QoS.acks_together()` the
same commands for all of them go in one pipeline, sent when the block ends.

Selected by `CELERY_BROKER_TRANSPORT` when the broker is Redis (config/settings.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from kombu.transport import redis, virtual


class QoS(redis.QoS):  # type: ignore[misc]
    """kombu's Redis QoS; acknowledgements made inside `acks_together()` go to Redis in one
    pipeline when the block ends, instead of one round trip each."""

    _ack_pipe: Any = None

    @contextmanager
    def acks_together(self) -> Iterator[None]:
        with self.channel.conn_or_acquire() as client:
            pipe = client.pipeline()
        self._ack_pipe = pipe
        try:
            yield
        finally:
            self._ack_pipe = None
            if len(pipe):
                pipe.execute()  # also after an error: the acks made so far are recorded as done

    def ack(self, delivery_tag: Any) -> None:
        if self._ack_pipe is None:
            super().ack(delivery_tag)
            return
        self._remove_from_indices(delivery_tag, pipe=self._ack_pipe)  # the same two commands, pipelined
        virtual.QoS.ack(self, delivery_tag)


class Channel(redis.Channel):  # type: ignore[misc]
    QoS = QoS
    _shared_client: Any = None
    _shared_client_pool: Any = None

    @contextmanager
    def conn_or_acquire(self, client: Any = None) -> Iterator[Any]:
        if client:
            yield client
            return
        pool = self.pool  # a new pool after a reconnect: a new client on it
        if self._shared_client is None or self._shared_client_pool is not pool:
            self._shared_client, self._shared_client_pool = self._create_client(), pool
        yield self._shared_client


class Transport(redis.Transport):  # type: ignore[misc]
    Channel = Channel
