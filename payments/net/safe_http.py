"""The one HTTP client for URLs a user can make us fetch (docs/ARCHITECTURE.md, money rule 9).

- ``https`` only, except for the exact ``host:port`` pairs in ``allow_http_hosts`` (tests and the
  local demo; production settings refuse to boot with any).
- The host is resolved once; every address it resolves to must be public (not private, loopback,
  link-local, multicast, reserved, unspecified or shared, in IPv4 or IPv6, IPv4-mapped and 6to4 /
  Teredo / NAT64 embeddings included). Only an allowed ``host:port`` skips that check, because the
  tests' servers live on loopback.
- The connection is pinned to the checked address: the request goes to the IP, the ``Host`` header
  and the TLS SNI carry the original name, and httpcore verifies the certificate against the SNI
  name (``server_hostname``), so a second DNS answer (rebinding) can never be used and TLS still
  proves the host's identity.
- Redirects are followed only to the same scheme, host and port (at most ``MAX_REDIRECTS``).
- 5 s timeouts for each phase and for the whole fetch; bodies over ``max_bytes`` are refused while
  streaming (the download stops there); no proxy from the environment.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache

import certifi
import httpx

DEFAULT_TIMEOUT_SECONDS = 5.0
DEFAULT_MAX_BYTES = 64 * 1024
MAX_REDIRECTS = 3
USER_AGENT = "blinkpos-lnurl/1"

Resolver = Callable[[str, int], list[str]]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class SafeHttpError(Exception):
    """A fetch refused or failed. ``code`` is stable (machine), ``reason`` is for people; neither holds
    anything secret (URLs we fetch are public LNURL endpoints)."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason


class UnsafeUrl(SafeHttpError):
    """Refused before any connection: scheme, host, address or redirect target not allowed."""


class FetchFailed(SafeHttpError):
    """The host could not be reached, was too slow, or answered too much."""


def system_resolver(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (A and AAAA), as the OS resolver answers."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise FetchFailed("dns_failed", f"{host} does not resolve") from exc
    return [str(info[4][0]) for info in infos]


@dataclass(frozen=True, kw_only=True)
class SafeHttpPolicy:
    allow_http_hosts: frozenset[str] = frozenset()
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    max_bytes: int = DEFAULT_MAX_BYTES
    resolver: Resolver = system_resolver
    # Tests only: a transport to send the pinned request through (e.g. to observe what went out).
    transport: httpx.BaseTransport | None = field(default=None, compare=False)

    def http_allowed(self, host: str, port: int) -> bool:
        return f"{host}:{port}" in self.allow_http_hosts


@dataclass(frozen=True, kw_only=True)
class SafeResponse:
    url: str
    status_code: int
    headers: Mapping[str, str]
    body: bytes


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in ipaddress.IPv6Network("64:ff9b::/96"):  # NAT64 well-known prefix
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def is_public_address(ip: IPAddress) -> bool:
    """True only for a globally routable unicast address."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            return is_public_address(embedded)
        if ip.is_site_local:
            return False
    blocked = (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or not ip.is_global  # also 100.64.0.0/10 (shared) and the documentation ranges
    )
    return not blocked


def _parse(url: str) -> httpx.URL:
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise UnsafeUrl("bad_url", "not a valid URL") from exc
    if parsed.userinfo:
        raise UnsafeUrl("bad_url", "URLs with user info are refused")
    if not parsed.host:
        raise UnsafeUrl("bad_url", "the URL has no host")
    return parsed


def _port(url: httpx.URL) -> int:
    return url.port or (443 if url.scheme == "https" else 80)


def _pinned_address(url: httpx.URL, policy: SafeHttpPolicy) -> str:
    """Check the scheme, resolve the host once and return the address to connect to."""
    host, port = url.host, _port(url)
    allowed_http = policy.http_allowed(host, port)
    if url.scheme != "https" and not (url.scheme == "http" and allowed_http):
        raise UnsafeUrl("insecure_scheme", f"only https URLs are fetched ({url.scheme}://{host}:{port} refused)")
    try:
        literal: IPAddress | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    addresses = [str(literal)] if literal is not None else policy.resolver(host, port)
    if not addresses:
        raise FetchFailed("dns_failed", f"{host} does not resolve")
    parsed: list[IPAddress] = []
    for address in addresses:
        try:
            parsed.append(ipaddress.ip_address(address.split("%", 1)[0]))
        except ValueError as exc:
            raise UnsafeUrl("bad_address", f"{host} resolved to something that is not an address") from exc
    # An allowed host:port is a test or demo server on loopback: exactly that pair skips the check.
    if not allowed_http and not all(is_public_address(ip) for ip in parsed):
        raise UnsafeUrl("private_address", f"{host} resolves to a non-public address")
    return str(parsed[0])


def _same_origin(a: httpx.URL, b: httpx.URL) -> bool:
    return (a.scheme, a.host, _port(a)) == (b.scheme, b.host, _port(b))


def _read_capped(response: httpx.Response, policy: SafeHttpPolicy, deadline: float) -> bytes:
    declared = response.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > policy.max_bytes:
        raise FetchFailed("too_large", f"the answer is larger than {policy.max_bytes} bytes")
    if response.headers.get("content-encoding", "identity").lower() != "identity":
        raise FetchFailed("encoded_body", "the host sent a compressed answer we did not ask for")
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_raw():
        size += len(chunk)
        if size > policy.max_bytes:
            raise FetchFailed("too_large", f"the answer is larger than {policy.max_bytes} bytes")
        if time.monotonic() > deadline:
            raise FetchFailed("timeout", "the host answered too slowly")
        chunks.append(chunk)
    return b"".join(chunks)


@lru_cache(maxsize=1)
def _tls_context() -> ssl.SSLContext:
    """httpx's own trust store (certifi), built once per process: loading it costs tens of milliseconds,
    which a client per fetch would pay every time. An SSLContext is safe to share between threads."""
    return ssl.create_default_context(cafile=certifi.where())


def _send_once(
    url: httpx.URL,
    address: str,
    policy: SafeHttpPolicy,
    params: Iterable[tuple[str, str]],
    deadline: float,
    *,
    method: str = "GET",
    content: bytes | None = None,
    extra_headers: Mapping[str, str] | None = None,
) -> tuple[httpx.Response, bytes]:
    """One request to ``address`` carrying ``url``'s host name in Host and SNI."""
    target = url.copy_with(host=address)
    timeout = httpx.Timeout(policy.timeout_seconds)
    # identity: the cap applies to the bytes we hold, never to a compressed body that could expand.
    headers = {
        "Accept": "application/json",
        "User-Agent": USER_AGENT,
        **(extra_headers or {}),
        "Host": url.netloc.decode("ascii"),
        "Accept-Encoding": "identity",
    }
    extensions = {"sni_hostname": url.host} if url.scheme == "https" else {}
    with httpx.Client(
        timeout=timeout, follow_redirects=False, trust_env=False, transport=policy.transport, verify=_tls_context()
    ) as client:
        # params are merged into the URL's own query string (LNURL callbacks carry theirs).
        # (httpx's own ``params=`` would replace that query string instead of merging into it.)
        if params:
            target = target.copy_merge_params(dict(params))
        request = client.build_request(method, target, headers=headers, content=content, extensions=extensions)
        try:
            response = client.send(request, stream=True)
        except httpx.TimeoutException as exc:
            raise FetchFailed("timeout", f"{url.host} did not answer in time") from exc
        except httpx.HTTPError as exc:
            raise FetchFailed("unreachable", f"{url.host} could not be reached ({type(exc).__name__})") from exc
        try:
            body = b"" if response.is_redirect else _read_capped(response, policy, deadline)
        except httpx.TimeoutException as exc:
            raise FetchFailed("timeout", f"{url.host} answered too slowly") from exc
        except httpx.HTTPError as exc:
            raise FetchFailed("unreachable", f"{url.host} dropped the connection ({type(exc).__name__})") from exc
        finally:
            response.close()
    return response, body


def safe_get(url: str, *, policy: SafeHttpPolicy, params: Mapping[str, str] | None = None) -> SafeResponse:
    """GET ``url`` (with ``params`` merged into its own query string) under ``policy``.

    Raises ``UnsafeUrl`` or ``FetchFailed``; any HTTP status is returned, the caller decides.
    """
    deadline = time.monotonic() + policy.timeout_seconds
    current = _parse(url)
    address = _pinned_address(current, policy)
    extra = list((params or {}).items())
    for _ in range(MAX_REDIRECTS + 1):
        response, body = _send_once(current, address, policy, extra, deadline)
        if not response.is_redirect:
            return SafeResponse(
                url=str(current), status_code=response.status_code, headers=dict(response.headers), body=body
            )
        location = response.headers.get("location", "")
        following = _parse(str(current.join(location)))
        if not _same_origin(current, following):
            raise UnsafeUrl("cross_host_redirect", f"{current.host} redirected to another host; not followed")
        # Same origin: the pinned address stays; the redirect's own query string replaces ours.
        current, extra = following, []
    raise FetchFailed("too_many_redirects", f"more than {MAX_REDIRECTS} redirects")


def safe_post(url: str, *, policy: SafeHttpPolicy, content: bytes, headers: Mapping[str, str]) -> SafeResponse:
    """POST ``content`` to ``url`` under ``policy`` (merchants' webhook endpoints).

    Redirects are never followed: a 3xx comes back as the answer (a webhook receiver that moved is
    told to update its URL, and a body is never re-sent to a place the merchant did not register).
    Raises ``UnsafeUrl`` or ``FetchFailed``; any HTTP status is returned, the caller decides.
    """
    deadline = time.monotonic() + policy.timeout_seconds
    target = _parse(url)
    address = _pinned_address(target, policy)
    response, body = _send_once(
        target, address, policy, [], deadline, method="POST", content=content, extra_headers=headers
    )
    return SafeResponse(url=str(target), status_code=response.status_code, headers=dict(response.headers), body=body)


def check_url(url: str, *, policy: SafeHttpPolicy) -> None:
    """Refuse ``url`` as ``safe_get``/``safe_post`` would before connecting (scheme, user info, host,
    every resolved address). Raises ``UnsafeUrl`` or ``FetchFailed`` (the host does not resolve)."""
    _pinned_address(_parse(url), policy)


def policy_from_settings() -> SafeHttpPolicy:
    """The process's policy (``LNURL_ALLOW_HTTP_HOSTS``, ``LNURL_HTTP_TIMEOUT_SECONDS``)."""
    from django.conf import settings

    return SafeHttpPolicy(
        allow_http_hosts=frozenset(h.strip().lower() for h in getattr(settings, "LNURL_ALLOW_HTTP_HOSTS", []) if h),
        timeout_seconds=float(getattr(settings, "LNURL_HTTP_TIMEOUT_SECONDS", DEFAULT_TIMEOUT_SECONDS)),
        max_bytes=int(getattr(settings, "LNURL_MAX_RESPONSE_BYTES", DEFAULT_MAX_BYTES)),
    )
