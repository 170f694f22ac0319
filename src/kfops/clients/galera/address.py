"""Galera node addresses: ``host:port`` (``[v6]:port``), validated before anything connects."""

from __future__ import annotations

import re
from typing import Final

DEFAULT_PORT: Final = 3306
_HOST = re.compile(
    r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)
_V6 = re.compile(r"^\[([0-9A-Fa-f:.]+)\]$")


def parse_address(text: str) -> tuple[str, int]:
    """(host, port) of ``host[:port]``; a ValueError says what is wrong in one sentence."""
    text = text.strip()
    host, port_text = text, ""
    if text.startswith("["):
        host, _, rest = text.partition("]")
        host += "]"
        port_text = rest[1:] if rest.startswith(":") else rest
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    v6 = _V6.match(host)
    if not (v6 or _HOST.match(host)) or len(host) > 253:
        raise ValueError(f"'{text}' is not a Galera node address (HOST:PORT, e.g. mariadb-0.mariadb:3306)")
    try:
        port = int(port_text) if port_text else DEFAULT_PORT
    except ValueError:
        raise ValueError(f"'{text}': the port must be a number") from None
    if not 0 < port < 65536:
        raise ValueError(f"'{text}': the port must be between 1 and 65535")
    return (v6.group(1) if v6 else host), port


def normalise(text: str) -> str:
    host, port = parse_address(text)
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def split_addresses(text: str) -> tuple[str, ...]:
    """A comma-separated list (settings.galera_nodes), each normalised."""
    return tuple(normalise(part) for part in text.split(",") if part.strip())
