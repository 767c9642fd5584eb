"""A connection's Sparkplug state as a tree: group → edge node → device, and its host applications; what the
connection page and `GET /api/connections/{id}/sparkplug` show."""

from __future__ import annotations

from typing import Any

from mqtt_app.models import SparkplugHost, SparkplugNode

from .values import pb

COUNTERS = ("births", "data_before_birth", "unresolved_metrics")
TIMES = ("last_birth_at", "last_death_at", "last_message_at")


def sparkplug_tree(connection_id: int) -> dict[str, Any]:
    groups: dict[str, dict[str, Any]] = {}
    nodes: dict[tuple[str, str], dict[str, Any]] = {}
    # Ordered by group, edge node, device: each edge node's own row ("" device) comes before its devices.
    for row in SparkplugNode.objects.filter(connection_id=connection_id).order_by("group", "edge_node", "device"):
        group = groups.setdefault(row.group, {"group": row.group, "edge_nodes": []})
        key = (row.group, row.edge_node)
        edge = nodes.get(key)
        if edge is None:
            edge = nodes[key] = _edge_node(row.group, row.edge_node)
            group["edge_nodes"].append(edge)
        if row.device:
            edge["devices"].append({"device": row.device, **_common(row)})
        else:
            edge.update(
                _common(row),
                bd_seq=row.bd_seq,
                seq_gaps=row.seq_gaps,
                stale_deaths=row.stale_deaths,
                rebirths_requested=row.rebirths_requested,
                last_rebirth_request_at=row.last_rebirth_request_at,
            )
    hosts = [
        {"host": h.host, "is_online": h.is_online, "timestamp": h.timestamp, "updated_at": h.updated_at}
        for h in SparkplugHost.objects.filter(connection_id=connection_id).order_by("host")
    ]
    return {"connection": connection_id, "groups": list(groups.values()), "hosts": hosts}


def _edge_node(group: str, edge_node: str) -> dict[str, Any]:
    """An edge node known only through its devices' messages until its own row is read."""
    empty: dict[str, Any] = {
        "is_online": False,
        "bd_seq": None,
        "seq_gaps": 0,
        "stale_deaths": 0,
        "metrics": [],
        "rebirths_requested": 0,
        "last_rebirth_request_at": None,
    }
    return {"edge_node": edge_node, **empty, **dict.fromkeys(COUNTERS, 0), **dict.fromkeys(TIMES), "devices": []}


def _common(row: SparkplugNode) -> dict[str, Any]:
    out: dict[str, Any] = {"is_online": row.is_online, "metrics": [_metric(m) for m in row.metrics]}
    out.update({name: getattr(row, name) for name in COUNTERS + TIMES})
    return out


def _metric(definition: dict[str, Any]) -> dict[str, Any]:
    datatype = definition.get("datatype") or 0
    names = pb.DataType
    name = names.Name(datatype) if datatype in names.values() else str(datatype)
    return {"name": definition["name"], "alias": definition.get("alias"), "datatype": name,
            "unit": definition.get("unit", "")}  # fmt: skip
