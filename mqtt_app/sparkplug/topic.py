"""The Sparkplug B topic namespace: `spBv1.0/<group>/<message type>/<edge node>[/<device>]` and
`spBv1.0/STATE/<host>`."""

from __future__ import annotations

from dataclasses import dataclass

from mqtt_app.parsers.base import ParseFailure

NAMESPACE = "spBv1.0"
NODE_TYPES = frozenset({"NBIRTH", "NDATA", "NDEATH", "NCMD"})
DEVICE_TYPES = frozenset({"DBIRTH", "DDATA", "DDEATH", "DCMD"})
STATE = "STATE"


@dataclass(frozen=True, slots=True)
class SparkplugTopic:
    group: str
    message_type: str  # NBIRTH ... DCMD, or STATE (then `edge_node` is the host application's id)
    edge_node: str
    device: str = ""

    @property
    def is_device(self) -> bool:
        return self.message_type in DEVICE_TYPES

    @property
    def source(self) -> str:
        """What readings name as their device: the device, or the edge node for node messages."""
        return self.device or self.edge_node


def parse_topic(topic: str) -> SparkplugTopic:
    """The topic's parts, or a ParseFailure (validation, at "topic") saying what is wrong with it."""
    levels = topic.split("/")
    if levels[0] != NAMESPACE:
        raise _bad(f"not in the {NAMESPACE} namespace")
    if len(levels) == 3 and levels[1] == STATE and levels[2]:
        return SparkplugTopic("", STATE, levels[2])
    if len(levels) < 4:
        raise _bad("expected spBv1.0/<group>/<message type>/<edge node>[/<device>]")
    group, message_type, edge_node = levels[1], levels[2], levels[3]
    if message_type in NODE_TYPES and len(levels) == 4:
        device = ""
    elif message_type in DEVICE_TYPES and len(levels) == 5 and levels[4]:
        device = levels[4]
    elif message_type in NODE_TYPES | DEVICE_TYPES:
        raise _bad(f"a {message_type} topic {'names no' if message_type in NODE_TYPES else 'needs a'} device")
    else:
        raise _bad(f"unknown message type {message_type!r}")
    if not group or not edge_node:
        raise _bad("the group and the edge node need a name")
    return SparkplugTopic(group, message_type, edge_node, device)


def _bad(message: str) -> ParseFailure:
    return ParseFailure.invalid("topic", message, "sparkplug_topic")
