"""The gateway's own broker connections: their client ids, bound to the gateway's credentials.

Mosquitto lets any authenticated client take over the session of any client id: it
disconnects the old connection and hands the session (subscriptions and the queued messages
its new user may read) to the newcomer. A phone user who connected as ``trackgw-ingest``
would throw the gateway off the broker, and the broker would drop the queued phone messages
the phone user may not read -- data loss. So the gateway's client ids are not guessable: each
ends in an HMAC of the configured id under the gateway's broker password. Only a holder of
that password can name the gateway's sessions; a holder of that password is the gateway.
The id stays the same across restarts, so the persistent session (and its backlog) is kept.
"""

from __future__ import annotations

import hashlib
import hmac

import aiomqtt

from ..config import MqttSettings

#: hex digits of the tag: 96 bits, not guessable; the whole id stays well under 65,535 bytes
TAG_DIGITS = 24


def bound_client_id(settings: MqttSettings, role: str = "") -> str:
    """``<client_id>[-<role>]-<tag>``: the id of one of the gateway's connections."""
    base = f"{settings.client_id}-{role}" if role else settings.client_id
    tag = hmac.new(settings.password.encode(), base.encode(), hashlib.sha256).hexdigest()
    return f"{base}-{tag[:TAG_DIGITS]}"


def gateway_client(settings: MqttSettings, role: str) -> aiomqtt.Client:
    """A broker client of the gateway's own (its user, its bound id for ``role``)."""
    return aiomqtt.Client(
        settings.host,
        settings.port,
        username=settings.username,
        password=settings.password,
        identifier=bound_client_id(settings, role),
    )
