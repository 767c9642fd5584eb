"""Every URL the project serves, for every persona: the answer its role allows, and nothing of a site it may not see.

The routes come from the URL resolver and the operations from /api/openapi.json; test_every_route_is_in_the_table
fails when one of them has no row here, so a new endpoint cannot ship without someone deciding who may call it.
Requests are about site Alpha; its objects' names carry a marker, as do Bravo's, and no answer may contain the
marker of a site the persona cannot see. A refused change leaves everything as it was (and writes no audit entry).
The admin and the WebSocket have their own sections below.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib import admin
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from mqtt_app.models import (
    Alert,
    AlertRule,
    ApiToken,
    AuditEntry,
    DeadLetter,
    MqttConnection,
    MqttTopic,
    ReparseJob,
    Site,
    TelemetryReading,
)

from .world import PERSONAS, RANK, ROLE_ON_ALPHA, World, build_world

pytestmark = pytest.mark.django_db


@dataclass(frozen=True)
class Case:
    need: str  # public, login, owner (the viewer's token: its owner and Alpha's managers), or a role
    paths: tuple[str, ...]  # formatted with World.ids()
    ok: frozenset[int] = frozenset({200})
    body: Any = None
    hidden: int = 404  # the answer to a persona that cannot see Alpha
    anonymous: int = 401
    lists: bool = False  # a list: every persona that sees Alpha must find Alpha's marker in it
    audited: bool = False  # a successful call writes an audit entry


def case(need: str, *paths: str, ok: tuple[int, ...] = (200,), **kwargs: Any) -> Case:
    return Case(need, paths, frozenset(ok), **kwargs)


PAGE = {"anonymous": 302}
REPARSE = {"since": "2000-01-01T00:00:00Z", "until": "2100-01-01T00:00:00Z", "parser_name": "plain_number"}
TABLE: dict[str, Case] = {
    # --- the JSON API (keys: the OpenAPI document's paths) ---
    "GET /api/health": case("public", "/api/health", ok=(200, 503)),
    "GET /api/sites": case("login", "/api/sites", lists=True),
    "POST /api/sites": case("superuser", "/api/sites", ok=(201,), body={"name": "new-site"}, hidden=403, audited=True),
    "GET /api/sites/{site_id}": case("viewer", "/api/sites/{site}"),
    "PATCH /api/sites/{site_id}": case("manager", "/api/sites/{site}", body={"description": "x"}, audited=True),
    # A superuser is told the site still has connections; nobody else gets that far.
    "DELETE /api/sites/{site_id}": case("superuser", "/api/sites/{site}", ok=(409,)),
    "GET /api/connections": case("login", "/api/connections", "/api/connections?site={site}", lists=True),
    "POST /api/connections": case(
        "manager",
        "/api/connections",
        ok=(201,),
        hidden=422,
        audited=True,
        body={"site": "{site}", "name": "new", "host": "127.0.0.1"},
    ),  # fmt: skip
    "GET /api/connections/{connection_id}": case("viewer", "/api/connections/{conn}"),
    "PATCH /api/connections/{connection_id}": case(
        "manager", "/api/connections/{conn}", body={"port": 1884}, audited=True
    ),  # fmt: skip
    "DELETE /api/connections/{connection_id}": case("manager", "/api/connections/{conn}", ok=(204,), audited=True),
    "POST /api/connections/{connection_id}/start": case(
        "operator", "/api/connections/{conn}/start", ok=(202,), audited=True
    ),  # fmt: skip
    "POST /api/connections/{connection_id}/stop": case("operator", "/api/connections/{conn}/stop", ok=(202,)),
    "GET /api/connections/{connection_id}/events": case("viewer", "/api/connections/{conn}/events", lists=True),
    "GET /api/connections/{connection_id}/sparkplug": case("viewer", "/api/connections/{conn}/sparkplug", lists=True),
    "GET /api/topics": case("login", "/api/topics", "/api/topics?connection={conn}", lists=True),
    "GET /api/topics/{topic_id}": case("viewer", "/api/topics/{topic}"),
    "PATCH /api/topics/{topic_id}": case(
        "operator", "/api/topics/{topic}", body={"parser_name": "plain_number"}, audited=True
    ),  # fmt: skip
    "GET /api/topics/{topic_id}/raw": case("viewer", "/api/topics/{topic}/raw"),
    "POST /api/topics/{topic_id}/reparse": case(
        "operator", "/api/topics/{topic}/reparse", ok=(202,), body=REPARSE, audited=True
    ),  # fmt: skip
    "POST /api/topics/{topic_id}/reparse/dry-run": case(
        "operator", "/api/topics/{topic}/reparse/dry-run", body=REPARSE
    ),  # fmt: skip
    "GET /api/topics/{topic_id}/reparse-jobs": case("viewer", "/api/topics/{topic}/reparse-jobs"),
    "GET /api/reparse-jobs/{job_id}": case("viewer", "/api/reparse-jobs/{job}"),
    "POST /api/reparse-jobs/{job_id}/cancel": case("operator", "/api/reparse-jobs/{job}/cancel"),
    "GET /api/readings": case(
        "viewer",
        "/api/readings?connection={conn}",
        "/api/readings?site={site}",
        "/api/readings?topic={topic}",
        "/api/readings?connection={conn}&format=csv",
        lists=True,
    ),  # fmt: skip
    "GET /api/series": case(
        "viewer",
        "/api/series?topic={topic}&metric=Alphaq7-metric",
        "/api/series?series={topic}:Alphaq7-metric",
        lists=True,
    ),  # fmt: skip
    "GET /api/parsing-errors": case("login", "/api/parsing-errors", lists=True),
    "GET /api/dead-letters": case("login", "/api/dead-letters", "/api/dead-letters?site={site}", lists=True),
    # Ids the caller cannot see are answered as not found, and nothing is replayed.
    "POST /api/dead-letters/replay": case(
        "operator", "/api/dead-letters/replay", body={"ids": ["{dead_letter}"]}, hidden=200, audited=True
    ),  # fmt: skip
    "GET /api/dead-letters/{dead_letter_id}": case("viewer", "/api/dead-letters/{dead_letter}"),
    "GET /api/dead-letters/{dead_letter_id}/payload": case("viewer", "/api/dead-letters/{dead_letter}/payload"),
    "POST /api/dead-letters/{dead_letter_id}/replay": case(
        "operator", "/api/dead-letters/{dead_letter}/replay", body={}, audited=True
    ),  # fmt: skip
    "GET /api/parsers": case("login", "/api/parsers"),
    "POST /api/parsers/{name}/test": case(
        "viewer", "/api/parsers/{name}/test", body={"topic_id": "{topic}"}, hidden=422
    ),  # fmt: skip
    "GET /api/tokens": case("login", "/api/tokens"),
    "POST /api/tokens": case("login", "/api/tokens", ok=(201,), body={"name": "matrix-new"}, audited=True),
    "GET /api/sites/{site_id}/tokens": case("manager", "/api/sites/{site}/tokens"),
    "DELETE /api/tokens/{token_id}": case("owner", "/api/tokens/{token}", ok=(204,), audited=True),
    "GET /api/audit": case(
        "login", "/api/audit", "/api/audit?connection={conn}", "/api/audit?site={site}", lists=True
    ),  # fmt: skip
    "GET /api/alert-rules": case("login", "/api/alert-rules", "/api/alert-rules?site={site}", lists=True),
    "POST /api/alert-rules": case(
        "manager",
        "/api/alert-rules",
        ok=(201,),
        hidden=422,
        audited=True,
        body={"name": "new-rule", "kind": "connection_down", "connection": "{conn}"},
    ),  # fmt: skip
    "GET /api/alert-rules/{rule_id}": case("viewer", "/api/alert-rules/{rule}"),
    "PATCH /api/alert-rules/{rule_id}": case(
        "manager", "/api/alert-rules/{rule}", body={"for_seconds": 120}, audited=True
    ),  # fmt: skip
    "DELETE /api/alert-rules/{rule_id}": case("manager", "/api/alert-rules/{rule}", ok=(204,), audited=True),
    # The world's webhook points nowhere reachable: the answer says so per channel, with a 200.
    "POST /api/alert-rules/{rule_id}/test": case("manager", "/api/alert-rules/{rule}/test"),
    "GET /api/alerts": case("login", "/api/alerts", "/api/alerts?site={site}&state=firing", lists=True),
    "GET /api/alerts/{alert_id}": case("viewer", "/api/alerts/{alert}"),
    "POST /api/alerts/{alert_id}/acknowledge": case(
        "operator", "/api/alerts/{alert}/acknowledge", audited=True
    ),  # fmt: skip
    # --- everything else the resolver serves (keys: the route) ---
    "GET api/openapi.json": case("public", "/api/openapi.json"),
    "GET api/docs": case("public", "/api/docs"),
    "GET metrics": case("superuser", "/metrics", hidden=403),
    "GET health/metrics.json": case("login", "/health/metrics.json", lists=True),
    "GET ": case("login", "/", anonymous=302, lists=True),
    "GET connections/<int:connection_id>/": case("viewer", "/connections/{conn}/", anonymous=302),
    "GET topics/<int:topic_id>/": case("viewer", "/topics/{topic}/", anonymous=302),
    "GET errors/": case("login", "/errors/", anonymous=302, lists=True),
    "GET tokens/": case("login", "/tokens/", anonymous=302),
    "GET alerts/": case("login", "/alerts/", anonymous=302, lists=True),
}
# Auth pages (login, logout, password change and reset): they show no site data to anyone; every one is
# requested by every persona and must answer without an error and without a marker.
AUTH_PREFIX = "accounts/"
NINJA_NAMES = {"api-1:openapi-json", "api-1:openapi-view"}


# --- the routes the project serves -----------------------------------------------------------------------------
def _routes(patterns: list, prefix: str = "") -> list[tuple[str, str | None]]:
    found = []
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            found += _routes(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            found.append((prefix + str(pattern.pattern), pattern.name))
    return found


def served_routes() -> set[str]:
    """Every route as a TABLE key; admin and auth routes are walked by their own tests below."""
    keys = set()
    document = Client().get("/api/openapi.json").json()
    for path, operations in document["paths"].items():
        keys |= {f"{method.upper()} {path}" for method in operations}
    for route, _ in _routes(get_resolver().url_patterns):
        if route.startswith(("admin/", AUTH_PREFIX)):
            continue
        if route.startswith("api/") and route not in ("api/openapi.json", "api/docs"):
            continue  # the API's operations: from the OpenAPI document above
        keys.add(f"GET {route}")
    return keys


def test_every_route_is_in_the_table():
    served = served_routes()
    assert served - TABLE.keys() == set(), "routes with no row in the access matrix"
    assert TABLE.keys() - served == set(), "rows for routes the project no longer serves"


# --- the API and the pages ---------------------------------------------------------------------------------------
@pytest.fixture
def world() -> World:
    return build_world()


def client_for(world: World, persona: str) -> Client:
    client = Client()
    if persona != "anonymous":
        client.force_login(world.users[persona])
    return client


def _fill(value: Any, ids: dict[str, Any]) -> Any:  # noqa: ANN401
    """`value` with "{name}" strings replaced by ids (kept as numbers where the id is one)."""
    if isinstance(value, str) and value.startswith("{") and value.endswith("}") and value[1:-1] in ids:
        found = ids[value[1:-1]]
        return found if isinstance(found, int) else str(found)
    if isinstance(value, dict):
        return {key: _fill(item, ids) for key, item in value.items()}
    if isinstance(value, list):
        return [_fill(item, ids) for item in value]
    return value


def allowed(row: Case, persona: str) -> bool:
    """Whether the persona may do what the row asks (a public read changes nothing, so it is not "allowed")."""
    if persona == "anonymous" or row.need == "public":
        return False
    if row.need == "login":
        return True
    if row.need == "owner":  # the viewer's token: the viewer, Alpha's manager, a superuser
        return persona in ("viewer", "manager", "superuser")
    held = "superuser" if persona == "superuser" else ROLE_ON_ALPHA.get(persona)
    return RANK[held] >= RANK[row.need]


def expected(row: Case, persona: str) -> frozenset[int]:
    if row.need == "public" or allowed(row, persona):
        return row.ok
    if persona == "anonymous":
        return frozenset({row.anonymous})
    if row.need == "owner":
        return frozenset({404})
    return frozenset({403}) if persona in ROLE_ON_ALPHA else frozenset({row.hidden})


def state(world: World) -> dict[str, Any]:
    """What a refused change must leave as it was."""
    conn = MqttConnection.objects.filter(pk=world.alpha.connection.pk).values("port", "is_active").first()
    return {
        "sites": list(Site.objects.values_list("pk", "name", "description")),
        "connection": conn,
        "connections": MqttConnection.objects.count(),
        "topic": MqttTopic.objects.filter(pk=world.alpha.topic.pk).values_list("parser_name", flat=True).first(),
        "replays": list(DeadLetter.objects.values_list("pk", "replay_count")),
        "tokens": ApiToken.objects.count(),
        "audit": AuditEntry.objects.count(),
        "rules": list(AlertRule.objects.values_list("pk", "name", "for_seconds")),
        "alerts": list(Alert.objects.values_list("pk", "state")),
        "reparse_jobs": list(ReparseJob.objects.values_list("pk", "state")),
    }


def markers_hidden_from(world: World, persona: str) -> list[str]:
    visible = world.visible_sites(persona)
    sites = (world.alpha, world.bravo)
    return [] if visible is None else [s.marker for s in sites if s.site.pk not in visible]


def call(client: Client, method: str, path: str, body: Any) -> Any:  # noqa: ANN401
    if body is None:
        return getattr(client, method.lower())(path)
    return getattr(client, method.lower())(path, json.dumps(body), content_type="application/json")


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("key", sorted(TABLE))
def test_each_route_answers_each_persona_as_its_role_allows(world, key, persona):
    row, method = TABLE[key], key.split(" ", 1)[0]
    ids = world.ids()
    client = client_for(world, persona)
    for template in row.paths:
        before = state(world)
        response = call(client, method, template.format(**ids), _fill(row.body, ids))
        body = b"".join(response.streaming_content) if response.streaming else response.content
        text = body.decode("utf-8", "replace")

        assert response.status_code in expected(row, persona), f"{method} {template}: {text[:300]}"
        for marker in markers_hidden_from(world, persona):
            assert marker not in text, f"{method} {template} shows {persona} another site's {marker}"
        if not allowed(row, persona):
            assert state(world) == before, f"{method} {template} changed something for {persona}"
        elif row.audited and method != "GET":
            assert AuditEntry.objects.count() > before["audit"], f"{method} {template} left no audit entry"
        if row.lists and response.status_code == 200 and persona in (*ROLE_ON_ALPHA, "superuser"):
            assert world.alpha.marker in text, f"{method} {template} does not list {persona}'s own site"


@pytest.mark.parametrize("persona", PERSONAS)
def test_auth_pages_show_no_site_data(world, persona):
    client = client_for(world, persona)
    routes = [route for route, _ in _routes(get_resolver().url_patterns) if route.startswith(AUTH_PREFIX)]
    assert routes
    for route in routes:
        if "<" in route:
            continue  # the reset confirmation needs a signed token: it shows a form or an error, never site data
        response = client.get("/" + route)
        assert response.status_code < 500, route
        for marker in (world.alpha.marker, world.bravo.marker):
            assert marker not in response.content.decode("utf-8", "replace"), route


# --- the admin ---------------------------------------------------------------------------------------------------
def _alpha_object(world: World, model: type) -> Any:  # noqa: ANN401
    """An object of Alpha for each site-scoped model, and of Bravo (None where the model has no site)."""
    from mqtt_app import access

    if model not in access.SITE_FIELD and model not in access.CONNECTION_FIELD:
        return None
    return access.filter_for(world.users["manager"], model.objects.all()).first()


def admin_expectation(persona: str, scoped: bool) -> int:
    if persona in ("anonymous", "viewer_other"):
        return 302  # not staff: the admin's login page
    if persona == "superuser":
        return 200
    if not scoped or persona == "staff_without_role":
        return 403
    return 200


@pytest.mark.parametrize("persona", PERSONAS)
def test_the_admin_shows_each_persona_only_its_sites(world, persona):
    from mqtt_app import access

    client = client_for(world, persona)
    hidden = markers_hidden_from(world, persona)
    for model in admin.site._registry:
        # API tokens are listed to whoever may revoke some (their owners, the owners' managers)
        scoped = model in access.SITE_FIELD or model in access.CONNECTION_FIELD or model is ApiToken
        opts = model._meta
        response = client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))
        assert response.status_code == admin_expectation(persona, scoped), f"{opts.label} changelist"
        for marker in hidden:
            assert marker not in response.content.decode(), f"{opts.label} changelist shows {marker}"
        obj = _alpha_object(world, model)
        if obj is None:
            continue
        url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])
        response = client.get(url)
        expected_status = admin_expectation(persona, scoped)
        if persona == "staff_without_role":
            expected_status = 403
        assert response.status_code == expected_status, f"{opts.label} change page"
        for marker in hidden:
            assert marker not in response.content.decode(), f"{opts.label} change page shows {marker}"


def test_a_viewer_cannot_change_in_the_admin_and_an_operator_only_operates(world):
    viewer, operator = client_for(world, "viewer"), client_for(world, "operator")
    conn = world.alpha.connection
    change = reverse("admin:mqtt_mqttconnection_change", args=[conn.pk])
    assert viewer.post(change, {"name": "renamed"}).status_code == 403
    assert operator.post(change, {"name": "renamed"}).status_code == 403
    changelist = reverse("admin:mqtt_mqttconnection_changelist")
    bravo = world.bravo.connection
    ids = [conn.pk, bravo.pk]
    operator.post(changelist, {"action": "start_selected", "_selected_action": ids})
    # Bravo's connection is not in the operator's list at all: the action never reaches it.
    assert MqttConnection.objects.get(pk=conn.pk).is_active
    assert not MqttConnection.objects.get(pk=bravo.pk).is_active
    entry = AuditEntry.objects.filter(action="connection.start").get()
    assert (entry.username, entry.via, entry.connection_id) == ("operator", "admin", conn.pk)


def test_a_manager_grants_roles_on_their_site_in_the_admin(world):
    manager = client_for(world, "manager")
    site = world.alpha.site
    url = reverse("admin:mqtt_site_change", args=[site.pk])
    page = manager.get(url)
    assert page.status_code == 200
    roles = list(site.roles.order_by("pk"))
    form = {"name": site.name, "slug": site.slug, "description": "", "roles-MIN_NUM_FORMS": "0",
            "roles-MAX_NUM_FORMS": "1000", "roles-TOTAL_FORMS": str(len(roles) + 1),
            "roles-INITIAL_FORMS": str(len(roles))}  # fmt: skip
    for n, role in enumerate(roles):
        form |= {f"roles-{n}-id": str(role.pk), f"roles-{n}-site": str(site.pk), f"roles-{n}-user": str(role.user_id),
                 f"roles-{n}-role": role.role}  # fmt: skip
    newcomer = world.users["staff_without_role"]
    form |= {f"roles-{len(roles)}-site": str(site.pk), f"roles-{len(roles)}-user": str(newcomer.pk),
             f"roles-{len(roles)}-role": "operator"}  # fmt: skip
    response = manager.post(url, form)
    assert response.status_code == 302, response.content.decode()[:2000]
    assert site.roles.get(user=newcomer).role == "operator"
    entry = AuditEntry.objects.get(action="role.grant")
    assert (entry.username, entry.changes) == ("manager", {"role": {"old": None, "new": "operator"}})
    # A viewer of the site may not change it (nor its roles).
    assert client_for(world, "viewer").post(url, form).status_code == 403


@pytest.mark.parametrize(("persona", "sees"), [("viewer", True), ("operator", False), ("manager", True)])
def test_the_viewers_token_is_listed_in_the_admin_to_its_owner_and_alphas_manager_only(world, persona, sees):
    page = client_for(world, persona).get(reverse("admin:mqtt_apitoken_changelist")).content.decode()
    assert ("matrix" in page) is sees


def test_a_manager_revokes_the_viewers_token_in_the_admin_and_it_is_audited(world):
    client = client_for(world, "manager")
    url = reverse("admin:mqtt_apitoken_delete", args=[world.token_id])
    assert client.post(url, {"post": "yes"}).status_code == 302
    assert not ApiToken.objects.filter(pk=world.token_id).exists()
    entry = AuditEntry.objects.get(action="token.revoke")
    assert (entry.username, entry.via, entry.site_id) == ("manager", "admin", world.alpha.site.pk)


def test_reading_rows_are_never_listed_across_sites_in_the_admin(world):
    client = client_for(world, "viewer")
    page = client.get(reverse("admin:mqtt_telemetryreading_changelist")).content.decode()
    assert world.alpha.marker in page and world.bravo.marker not in page
    assert TelemetryReading.objects.count() == 2


# --- the WebSocket -----------------------------------------------------------------------------------------------
WS_ORIGIN = [(b"origin", b"http://127.0.0.1"), (b"host", b"127.0.0.1")]


def _status(objects: Any) -> dict[str, Any]:  # noqa: ANN401
    from mqtt_app.events import ConnectionStatusEvent, message_for

    conn = objects.connection
    return message_for(ConnectionStatusEvent(connection=conn.pk, site=conn.site_id, name=conn.name, is_active=True,
                                             status="connected"))  # fmt: skip


async def _socket_session(world: World, persona: str, cookie: str | None) -> dict[str, Any]:
    """Connect as `persona`, read the snapshot, try to subscribe to both sites' connections, and see which of two
    status events (one per site) arrive."""
    from channels.layers import get_channel_layer
    from channels.testing import WebsocketCommunicator

    from mqtt_app.events import STATUS_GROUP
    from project.asgi import application

    headers = [*WS_ORIGIN, *([(b"cookie", f"sessionid={cookie}".encode())] if cookie else [])]
    ws = WebsocketCommunicator(application, "/ws/events/", headers=headers)
    connected, _ = await ws.connect(timeout=5)
    assert connected
    if cookie is None:
        closing = await ws.receive_output(timeout=5)
        await ws.disconnect()
        return {"closed": closing.get("code")}
    snapshot = []
    while (message := await ws.receive_json_from(timeout=5))["type"] != "ready":
        snapshot.append(message)
    answers = {}
    for name, objects in (("alpha", world.alpha), ("bravo", world.bravo)):
        await ws.send_json_to({"action": "subscribe", "connection": objects.connection.pk})
        answers[name] = (await ws.receive_json_from(timeout=5))["type"]
        topics = {"action": "subscribe", "connection": objects.connection.pk, "events": ["topic.readings"],
                  "topics": [objects.topic.pk]}  # fmt: skip
        await ws.send_json_to(topics)
        answers[f"{name} topic"] = (await ws.receive_json_from(timeout=5))["type"]
    layer = get_channel_layer()
    # One status per site; the socket gets those of its sites, and then nothing more.
    for objects in (world.alpha, world.bravo):
        await layer.group_send(STATUS_GROUP, _status(objects))
    received = []
    while not await ws.receive_nothing(timeout=0.5):
        received.append(await ws.receive_json_from(timeout=5))
    await ws.disconnect()
    return {"snapshot": {m["site"] for m in snapshot}, "answers": answers,
            "received": sorted({m["site"] for m in received if m["type"] == "connection.status"})}  # fmt: skip


def test_websocket_snapshot_subscriptions_and_broadcasts_follow_the_sites(transactional_db):
    from asgiref.sync import async_to_sync

    world = build_world()
    alpha, bravo = world.alpha.site.pk, world.bravo.site.pk
    for persona in PERSONAS:
        cookie = None
        if persona != "anonymous":
            client = Client()
            client.force_login(world.users[persona])
            cookie = client.cookies["sessionid"].value
        seen = async_to_sync(_socket_session)(world, persona, cookie)
        if persona == "anonymous":
            assert seen == {"closed": 4401}
            continue
        visible = world.visible_sites(persona)
        sites = {alpha, bravo} if visible is None else visible
        assert seen["snapshot"] == sites, persona
        assert seen["received"] == sorted(sites), persona
        for name, site in (("alpha", alpha), ("bravo", bravo)):
            want = "subscribed" if site in sites else "error"
            assert seen["answers"][name] == want, (persona, name)
            assert seen["answers"][f"{name} topic"] == want, (persona, name)
