"""Teltonika server -> device acknowledgements (wiki "Communication with server" and
"Codec 8 protocol sending over UDP")."""

from __future__ import annotations

import struct

_TCP_ACK = struct.Struct(">I")
_UDP_ACK = struct.Struct(">HHBBB")
#: length field of the UDP ack: packet id (2) + not usable (1) + AVL packet id (1) + count (1)
_UDP_ACK_LENGTH = 5


def encode_tcp_ack(accepted: int) -> bytes:
    """4-byte big-endian number of records accepted."""
    return _TCP_ACK.pack(accepted)


def encode_udp_ack(packet_id: int, not_usable: int, avl_packet_id: int, accepted: int) -> bytes:
    """UDP channel header (length 5, packet id, the "not usable" byte echoed), AVL packet id,
    number of records accepted."""
    return _UDP_ACK.pack(_UDP_ACK_LENGTH, packet_id, not_usable, avl_packet_id, accepted)
