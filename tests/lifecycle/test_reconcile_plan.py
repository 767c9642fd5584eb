"""The reconcile policy as a pure function: who gets which connection."""

from __future__ import annotations

from mqtt_app.models import ConnectionEvent, ConnectionStatus
from mqtt_app.services.reconcile import Desired, plan


def live(*ids: str, capacity: int = 100) -> dict[str, dict]:
    return {lid: {"id": lid, "capacity": capacity} for lid in ids}


def active(*ids: int, status: str = ConnectionStatus.CONNECTED) -> list[Desired]:
    return [Desired(i, True, status) for i in ids]


def test_active_unheld_connections_go_to_the_least_loaded_listener():
    result = plan(active(1, 2, 3), live("a", "b"), {1: "a"}, now=1.0)
    assert result.assign == {2: "b", 3: "a"}
    assert {c.status for c in result.statuses} == {ConnectionStatus.STARTING}


def test_inactive_connections_are_unassigned_and_marked_stopping():
    desired = [Desired(1, False, ConnectionStatus.CONNECTED)]
    result = plan(desired, live("a"), {1: "a"}, now=1.0)
    assert result.unassign == {1}
    assert [(c.connection_id, c.status) for c in result.statuses] == [(1, ConnectionStatus.STOPPING)]


def test_inactive_connection_of_a_dead_listener_is_marked_stopped_directly():
    result = plan([Desired(1, False, ConnectionStatus.CONNECTED)], live("b"), {1: "gone"}, now=1.0)
    assert result.unassign == {1}
    assert result.statuses[0].status == ConnectionStatus.STOPPED


def test_connections_of_a_dead_listener_move_to_live_ones_as_reassigned():
    result = plan(active(1, 2), live("b"), {1: "dead", 2: "b"}, now=1.0)
    assert result.assign == {1: "b"}
    assert result.moved == 1
    assert result.statuses[0].event == ConnectionEvent.REASSIGNED


def test_healthy_connections_are_not_moved_when_the_load_is_roughly_even():
    assignments = {1: "a", 2: "a", 3: "a", 4: "b", 5: "b"}
    result = plan(active(1, 2, 3, 4, 5), live("a", "b"), assignments, now=1.0)
    assert result.assign == {} and result.statuses == []


def test_a_new_listener_gets_a_share_and_unhealthy_connections_move_first():
    desired = active(*range(1, 10)) + [Desired(10, True, ConnectionStatus.ERROR)]
    assignments = {i: "a" for i in range(1, 11)}
    result = plan(desired, live("a", "b"), assignments, now=1.0)
    assert 10 in result.assign and result.assign[10] == "b"
    moved = len(result.assign)
    assert 3 <= moved <= 5


def test_capacity_is_respected_and_the_rest_waits_unplaced():
    result = plan(active(1, 2, 3), live("a", capacity=2), {}, now=1.0)
    assert len(result.assign) == 2
    assert result.unplaced == 1


def test_without_live_listeners_nothing_is_assigned():
    result = plan(active(1), {}, {}, now=1.0)
    assert result.assign == {} and result.unplaced == 1
