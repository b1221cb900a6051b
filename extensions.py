"""Flask extensions, created unbound so every module can import them without cycles."""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from typing import Any

import flask_limiter
from flask import Flask
from flask import request
from flask.sessions import SecureCookieSessionInterface
from flask_caching import Cache
from flask_login import LoginManager
from flask_wtf.csrf import CSRFProtect
from itsdangerous import URLSafeTimedSerializer

IPV6_NETWORK_PREFIX = 64  # the smallest network an ISP or a host gives one subscriber


def client_network() -> str:
    """Return whom a rate limit counts: the client's IPv4 address, or its IPv6 /64 network.

    One IPv6 subscriber holds a whole /64 (2^64 addresses), so counting per address would let anyone
    with an ordinary IPv6 connection send every limit again from a fresh address.
    """
    return network_counted(request.remote_addr or "")


@lru_cache(maxsize=4096)
def network_counted(address: str) -> str:
    """The address or network :func:`client_network` counts, remembered for recent addresses."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if parsed.version == 4:
        return address
    if parsed.ipv4_mapped is not None:
        return str(parsed.ipv4_mapped)
    return str(ipaddress.ip_network(f"{parsed}/{IPV6_NETWORK_PREFIX}", strict=False))


class Limiter(flask_limiter.Limiter):
    """Flask-Limiter, without its check before every request when there is nothing for that check to count: no
    default, application or meta limits (Inkwell sets none; an owner may, in instance/config.py). The limits on
    views are counted by their decorators all the same; the empty check was a tenth of a comment's CPU time."""

    def _check_request_limit(self, callable_name: str | None = None, in_middleware: bool = True) -> None:
        if in_middleware and not self.has_limits_on_every_request:
            return
        super()._check_request_limit(callable_name, in_middleware)

    @property
    def has_limits_on_every_request(self) -> bool:
        manager: Any = self.limit_manager
        return bool(manager._default_limits or manager._application_limits or self._meta_limits)


class SessionCookies(SecureCookieSessionInterface):
    """Flask's signed session cookie, whose signer is made once for each secret key rather than twice a request."""

    def __init__(self) -> None:
        self._serializers: dict[tuple[Any, ...], URLSafeTimedSerializer | None] = {}

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        keys = (app.secret_key, *(app.config["SECRET_KEY_FALLBACKS"] or ()))
        if keys not in self._serializers:
            self._serializers[keys] = super().get_signing_serializer(app)
        return self._serializers[keys]


cache = Cache()  # the page cache's store; pagecache.py configures it
csrf = CSRFProtect()
limiter = Limiter(key_func=client_network)
login_manager = LoginManager()
login_manager.login_view = "admin.login"
login_manager.login_message = "Please log in to see that page."
login_manager.login_message_category = "info"
