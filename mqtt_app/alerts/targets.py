"""Where notifications may go: by default not to this machine, its networks, or the cloud's metadata service.

Anyone who may create a rule chooses its webhook and Apprise URLs, which the worker then requests (SSRF). Unless
MQTT_ALERT_ALLOW_PRIVATE_TARGETS is on, a host that is, or resolves to, a loopback, private, link-local, reserved,
multicast, unspecified or otherwise non-public address is refused: when the rule is saved (`target_error`), and
when sending, against the addresses actually connected to (`guarded_opener`: the name is resolved once, every
address is checked, and the connection goes to those addresses, so a name that changes its answer in between,
DNS rebinding, gains nothing). Apprise connects by itself: its host is checked just before, not pinned.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import urllib.request
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# Apprise schemes whose URL host is the server Apprise posts to (self-hosted services); ntfy only in its private
# mode (ntfy://host/topic: ntfy://topic goes to ntfy.sh). The others go to their fixed cloud service.
APPRISE_HOST_SCHEMES = frozenset(
    {"json", "jsons", "xml", "xmls", "form", "forms", "gotify", "gotifys", "ntfy", "ntfys", "apprise", "apprises",
     "mmost", "mmosts", "rocket", "rockets", "ncloud", "nclouds", "nctalk", "nctalks", "hassio", "hassios"}
)  # fmt: skip


class TargetRefused(Exception):  # noqa: N818 - not an OSError on purpose: urllib must not wrap it as retryable
    """A target host that is, or resolves to, a non-public address: permanent, never retried."""


def allowed_private() -> bool:
    return bool(settings.MQTT_ALERT_ALLOW_PRIVATE_TARGETS)


def address_problem(address: IPAddress) -> str | None:
    """What kind of non-public address this is, or None for a public one."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    kinds = (("loopback", address.is_loopback), ("link-local", address.is_link_local),
             ("multicast", address.is_multicast), ("unspecified", address.is_unspecified),
             ("private", address.is_private), ("reserved", address.is_reserved),
             ("non-public", not address.is_global))  # fmt: skip
    return next((f"a {kind} address" for kind, flag in kinds if flag), None)


def resolve(host: str, port: int | None = None) -> list[tuple[Any, ...]]:
    """getaddrinfo's stream entries for the host: resolved once, then checked and connected to as they are."""
    return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)


def host_problem(host: str, *, unresolved_ok: bool) -> str | None:
    """Why `host` may not be a target (None: it may). `unresolved_ok`: a name that does not resolve now passes
    (when a rule is saved; sending checks again)."""
    if allowed_private():
        return None
    try:
        literal: IPAddress | None = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        literal = None
    if literal is not None:
        problem = address_problem(literal)
        return f"{host} is {problem}" if problem else None
    try:
        entries = resolve(host)
    except (socket.gaierror, UnicodeError):
        return None if unresolved_ok else f"{host} does not resolve"
    for entry in entries:
        if problem := address_problem(ipaddress.ip_address(entry[4][0])):
            return f"{host} resolves to {entry[4][0]}, {problem}"
    return None


def url_host(kind: str, target: str) -> str | None:
    """The host a webhook or Apprise URL makes us connect to; None when there is none to check (e-mail, an
    Apprise cloud service)."""
    if kind == "webhook":
        return urlsplit(target).hostname
    if kind != "apprise":
        return None
    scheme = target.split("://", 1)[0].lower()
    if scheme not in APPRISE_HOST_SCHEMES:
        return None
    import apprise

    plugin = apprise.Apprise.instantiate(target)
    if plugin is None or (scheme.startswith("ntfy") and getattr(plugin, "mode", "") != "private"):
        return None
    return getattr(plugin, "host", None) or None


def target_error(kind: str, target: str) -> str | None:
    """Validation (API and admin): why the channel's target may not be used, or None."""
    host = url_host(kind, target)
    problem = host_problem(host, unresolved_ok=True) if host else None
    if problem:
        return f"{problem}: private targets are refused (MQTT_ALERT_ALLOW_PRIVATE_TARGETS)"
    return None


def check_before_send(kind: str, target: str) -> None:
    """Apprise at send time: refuse a host that is, or now resolves to, a non-public address."""
    host = url_host(kind, target)
    if host is not None and (problem := host_problem(host, unresolved_ok=True)):
        raise TargetRefused(problem)


def guarded_connection(address: tuple[str, int], timeout: Any = None, source_address: Any = None) -> socket.socket:  # noqa: ANN401
    """socket.create_connection, to the addresses checked: each one the name resolves to must be public."""
    host, port = address
    entries = resolve(host, port)
    for entry in entries:
        if problem := address_problem(ipaddress.ip_address(entry[4][0])):
            raise TargetRefused(f"{host} resolves to {entry[4][0]}, {problem}")
    error: OSError | None = None
    for family, kind, proto, _name, sockaddr in entries:
        sock = socket.socket(family, kind, proto)
        try:
            if timeout is not None and timeout is not socket._GLOBAL_DEFAULT_TIMEOUT:  # type: ignore[attr-defined]
                sock.settimeout(timeout)
            if source_address:
                sock.bind(source_address)
            sock.connect(sockaddr)
            return sock
        except OSError as exc:
            error = exc
            sock.close()
    raise error or OSError(f"{host} has no address")


class _GuardedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, *args: Any, **kwargs: Any) -> None:  # noqa: ANN401
        super().__init__(*args, **kwargs)
        self._create_connection = guarded_connection


class _GuardedHTTPSConnection(http.client.HTTPSConnection):
    """TLS still verifies the certificate against the host name (only the TCP connection is to the address)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:  # noqa: ANN401
        super().__init__(*args, **kwargs)
        self._create_connection = guarded_connection


class _GuardedHTTPHandler(urllib.request.HTTPHandler):
    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_GuardedHTTPConnection, req)


class _GuardedHTTPSHandler(urllib.request.HTTPSHandler):
    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_GuardedHTTPSConnection, req, context=self._context)  # type: ignore[attr-defined]


def guarded_opener() -> urllib.request.OpenerDirector:
    """urllib's opener for webhooks. Guarded: every connection, redirects included, goes through
    `guarded_connection`, and no proxy from the environment is used (a proxy would resolve the name itself)."""
    if allowed_private():
        return urllib.request.build_opener()
    return urllib.request.build_opener(urllib.request.ProxyHandler({}), _GuardedHTTPHandler, _GuardedHTTPSHandler)
