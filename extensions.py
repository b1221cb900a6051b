"""Flask extensions, created unbound so every module can import them without cycles."""

from __future__ import annotations

import ipaddress

from flask import request
from flask_caching import Cache
from flask_limiter import Limiter
from flask_login import LoginManager
from flask_wtf.csrf import CSRFProtect

IPV6_NETWORK_PREFIX = 64  # the smallest network an ISP or a host gives one subscriber


def client_network() -> str:
    """Return whom a rate limit counts: the client's IPv4 address, or its IPv6 /64 network.

    One IPv6 subscriber holds a whole /64 (2^64 addresses), so counting per address would let anyone
    with an ordinary IPv6 connection send every limit again from a fresh address.
    """
    address = request.remote_addr or ""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if parsed.version == 4:
        return address
    if parsed.ipv4_mapped is not None:
        return str(parsed.ipv4_mapped)
    return str(ipaddress.ip_network(f"{parsed}/{IPV6_NETWORK_PREFIX}", strict=False))


cache = Cache()  # the page cache's store; pagecache.py configures it
csrf = CSRFProtect()
limiter = Limiter(key_func=client_network)
login_manager = LoginManager()
login_manager.login_view = "admin.login"
login_manager.login_message = "Please log in to see that page."
login_manager.login_message_category = "info"
