"""MQTT ingestion with PUBACK only after commit.

aiomqtt 2.x (checked on 2.5.1) builds its paho client without ``manual_ack``, so paho sends
the PUBACK for a QoS 1 message as soon as it is read from the socket: a crash before the
batch commits would lose a message the phone was told was delivered. Ingestion therefore uses
paho-mqtt 2.x with ``manual_ack=True`` directly, driven by the asyncio loop (its socket is
registered with ``add_reader``/``add_writer``, as paho's own asyncio example does), and calls
``client.ack(mid)`` from the writer's ``on_commit``. aiomqtt stays for publishing alerts.

Back-pressure comes from the broker: it sends at most ``max_inflight_messages`` un-acknowledged
QoS 1 messages to this client (deploy/mosquitto/mosquitto.conf), and we acknowledge only what
has committed; past that the broker queues for us (persistent session, clean_session=False).
QoS 0 messages have no such window, so the inbox is bounded here as well: at
``limits.mqtt_inbox_max`` messages read but not yet routed the socket is taken off the event
loop (TCP flow control then holds the broker back), and put back once half of them are routed.

What is acknowledged (docs/limits.md): every message, once the envelope it was routed in has
committed — also a message that stored nothing: malformed (counted in
``trackgw_frames_rejected_total``), from an unknown or deactivated device (counted in
``trackgw_devices_refused_total``), on a topic we do not ingest, or retained. Not acknowledging
would make the broker redeliver it on every reconnect, forever.

Retained messages (RETAIN set on delivery) are ignored: with MQTT 3.1.1 the broker sets the
flag only on what it replays for a new SUBSCRIBE — the last retained fix of each phone, already
ingested live or older than our session — never on a live publish, which is what we store.
They are acknowledged and counted (``reason="Retained"``), not cleared: OwnTracks' friends view
reads them, and the gateway has no write access to phones' topics.
"""

from __future__ import annotations

import asyncio
import logging
import select
import socket
from collections import OrderedDict, deque
from collections.abc import Iterable
from functools import partial
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from protocols import registry
from protocols.model import Message

from .. import metrics
from ..broker.client_id import bound_client_id
from ..config import LimitSettings, MqttSettings
from ..pipeline.route import IntakeClosed, Router
from .decode import receive

log = logging.getLogger(__name__)

#: sessions kept per topic (one per phone); the least recently used is dropped past this
MAX_SESSIONS = 50_000
#: messages routed as one envelope (one commit releases their PUBACKs); well below batch_max
MAX_GROUP = 1000
#: packets read from the socket per readiness callback before yielding to the event loop
READ_BURST = 1000


def topic_route(topic: str) -> tuple[str, str] | None:
    """(protocol, device key) for a device topic, or None for a topic we do not ingest.

    ``owntracks/<user>/<device>`` -> ("owntracks", "<user>/<device>");
    ``trackgw/phones/<user>/<device>`` -> ("msgpack_phone", "<user>/<device>").
    """
    return registry.mqtt_route(topic)  # the layouts are the specs' (ProtocolSpec.mqtt_topic)


class MqttIngest:
    def __init__(
        self, settings: MqttSettings, router: Router, limits: LimitSettings | None = None
    ) -> None:
        self.settings = settings
        self.router = router
        self.inbox_max = max(1, (limits or LimitSettings()).mqtt_inbox_max)
        #: the socket is off the event loop because the inbox is full
        self.paused = False
        self.connected = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self._inbox: deque[tuple[int, paho.MQTTMessage]] = deque()
        self._inbox_ready = asyncio.Event()
        self._generation = 0
        self._sessions: OrderedDict[str, Any] = OrderedDict()
        self._stopping = False
        self._misc: asyncio.Task[None] | None = None
        self._sock: socket.socket | None = None
        self._poll: Any = None
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=bound_client_id(settings),
            clean_session=False,
            protocol=MQTTProtocolVersion.MQTTv311,
            manual_ack=True,
        )
        self.client.username_pw_set(settings.username, settings.password)
        self.client.max_queued_messages_set(0)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.on_socket_open = self._on_socket_open
        self.client.on_socket_close = self._on_socket_close
        self.client.on_socket_register_write = self._on_register_write
        self.client.on_socket_unregister_write = self._on_unregister_write

    # -- paho callbacks (all run on the event loop thread) ------------------------------------
    def _on_socket_open(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        self._sock = sock
        self._poll = select.poll()
        self._poll.register(sock, select.POLLIN)
        self.paused = False
        self._loop.add_reader(sock, self._read_ready)

    def _read_ready(self) -> None:
        """Read every packet already here, not one per turn of the event loop: paho's
        ``loop_read`` reads one packet (a few small recv calls) and returns. Stops, and takes
        the socket off the loop, when the inbox is full."""
        client, poll, inbox = self.client, self._poll, self._inbox
        for _ in range(READ_BURST):
            if len(inbox) >= self.inbox_max:
                self._pause_reading()
                return
            if client.loop_read() != paho.MQTT_ERR_SUCCESS or self._sock is None:
                return
            if poll is None or not poll.poll(0):
                return

    def _pause_reading(self) -> None:
        if not self.paused and self._sock is not None:
            self.paused = True
            self._loop.remove_reader(self._sock)
            metrics.connections_refused.labels("mqtt", "inbox_full").inc()

    def _resume_reading(self) -> None:
        if self.paused and self._sock is not None and not self._stopping:
            self.paused = False
            self._loop.add_reader(self._sock, self._read_ready)

    def _on_socket_close(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        self.paused = False
        self._loop.remove_reader(sock)
        self._loop.remove_writer(sock)
        self._sock = None
        self._poll = None

    def _on_register_write(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        self._loop.add_writer(sock, client.loop_write)

    def _on_unregister_write(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        self._loop.remove_writer(sock)

    def _topics(self) -> list[str]:
        topics = [self.settings.owntracks_topic, self.settings.msgpack_topic]
        if self.settings.shared_group:
            topics = [f"$share/{self.settings.shared_group}/{t}" for t in topics]
        return topics

    def _on_connect(
        self, client: paho.Client, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        if reason.is_failure:
            log.error("MQTT connection refused: %s", reason)
            return
        self._generation += 1
        client.subscribe([(t, 1) for t in self._topics()])
        metrics.mqtt_connected.labels("ingest").set(1)
        self.connected.set()
        log.info(
            "MQTT ingestion connected to %s:%d (session present: %s)",
            self.settings.host,
            self.settings.port,
            flags.session_present,
        )

    def _on_disconnect(
        self, client: paho.Client, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        self.connected.clear()
        metrics.mqtt_connected.labels("ingest").set(0)
        if not self._stopping:
            log.warning("MQTT ingestion disconnected: %s", reason)

    def _on_message(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        self._inbox.append((self._generation, message))
        self._inbox_ready.set()

    # -- the loop ----------------------------------------------------------------------------
    async def run(self) -> None:
        self._misc = asyncio.create_task(self._run_misc(), name="mqtt-misc")
        # paho's housekeeping (keepalive, reconnects) is part of this task: if it ends, so
        # does ingestion (and the supervisor sees it)
        self._misc.add_done_callback(lambda _: self._inbox_ready.set())
        try:
            while True:
                while not self._inbox:
                    if self._stopping:
                        return
                    if self._misc.done():
                        self._misc.result()  # its exception, if it failed
                        raise RuntimeError("the MQTT housekeeping loop ended")
                    self._inbox_ready.clear()
                    await self._inbox_ready.wait()
                await self._ingest_waiting()
        finally:
            self._misc.cancel()

    async def _connect(self) -> None:
        s = self.settings
        try:
            self.client.connect(s.host, s.port, keepalive=s.keepalive_s)
        except OSError as exc:
            log.warning("MQTT broker %s:%d unreachable: %s", s.host, s.port, exc)

    async def _run_misc(self) -> None:
        delay = 0.5
        await self._connect()
        while not self._stopping:
            rc = self.client.loop_misc()
            if rc != paho.MQTT_ERR_SUCCESS or not self.client.is_connected():
                if self._sock is None and not self._stopping:
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 10.0)
                    try:
                        self.client.reconnect()
                    except OSError as exc:
                        log.warning("MQTT reconnect failed: %s", exc)
                    continue
            else:
                delay = 0.5
            await asyncio.sleep(1.0)

    def _session(self, topic: str, protocol: str, device_key: str) -> Any:
        session = self._sessions.get(topic)
        if session is None:
            session = registry.get(protocol).new_session("mqtt", device_key)
            self._sessions[topic] = session
            if len(self._sessions) > MAX_SESSIONS:
                self._sessions.popitem(last=False)
        else:
            self._sessions.move_to_end(topic)
        return session

    async def _ingest_waiting(self) -> None:
        """Route what is waiting in the inbox (up to ``MAX_GROUP`` messages) as one envelope
        per protocol; its commit releases all their PUBACKs together."""
        inbox = self._inbox
        groups: dict[
            str,
            tuple[list[tuple[str, list[Message]]], list[tuple[int, int, int]], list[bytes]],
        ] = {}
        for _ in range(min(len(inbox), MAX_GROUP)):
            generation, message = inbox.popleft()
            topic = message.topic
            routed = topic_route(topic)
            if routed is None:
                metrics.frames_rejected.labels("mqtt", "UnknownTopic").inc()
                self._ack_all(((generation, message.mid, message.qos),))  # nothing to store
                continue
            protocol, key = routed
            if message.retain:  # a replay for our SUBSCRIBE, not a live publish
                metrics.frames_rejected.labels(protocol, "Retained").inc()
                self._ack_all(((generation, message.mid, message.qos),))
                continue
            try:
                session = self._session(topic, protocol, key)
                messages = receive(session, message.payload, stream=False)
            except Exception:  # this message is rejected (acknowledged, not stored)
                metrics.message_errors.labels("mqtt-ingest").inc()
                log.exception("decoding an MQTT message on %r failed", topic)
                self._ack_all(((generation, message.mid, message.qos),))
                continue
            group = groups.get(protocol)
            if group is None:
                group = groups[protocol] = ([], [], [])
            # The phone gets nothing back over MQTT but the PUBACK: replies are not sent.
            group[0].append((key, messages))
            group[1].append((generation, message.mid, message.qos))
            group[2].append(bytes(message.payload))
        if len(inbox) <= self.inbox_max // 2:
            self._resume_reading()
        for protocol, (reads, acks, raws) in groups.items():
            try:
                await self.router.route_reads(
                    protocol, reads, partial(self._ack_all, acks), raws=raws
                )
            except IntakeClosed:
                self._stopping = True  # the broker redelivers after restart
                return
            except Exception:  # not acknowledged: the broker redelivers after a reconnect
                metrics.message_errors.labels("mqtt-ingest").inc()
                log.exception("routing %d MQTT messages failed", len(reads))

    def _ack_all(self, acks: Iterable[tuple[int, int, int]]) -> None:
        """PUBACK these messages (after the commit that holds their data).

        A mid belongs to one connection: after a reconnect the broker redelivers the message
        itself (and the store deduplicates), so a mid from an older connection is never acked.
        """
        client = self.client
        if not client.is_connected():
            return
        current = self._generation
        for generation, mid, qos in acks:
            if qos > 0 and generation == current:
                client.ack(mid, qos)

    def stop_reading(self) -> None:
        self._stopping = True
        self._inbox_ready.set()
        if self._sock is not None:
            self._loop.remove_reader(self._sock)

    async def close(self) -> None:
        """Flush the PUBACKs the writer released, then disconnect (the session persists)."""
        self._stopping = True
        self._inbox_ready.set()
        if self.client.is_connected():
            self.client.loop_write()
            await asyncio.sleep(0.05)
            self.client.disconnect()
            self.client.loop_write()
        if self._misc is not None:
            self._misc.cancel()
