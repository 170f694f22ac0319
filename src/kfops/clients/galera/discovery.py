"""Finding the Galera nodes and the read-only credentials from the cluster kfops runs in.

Nodes: a mariadb-operator ``MariaDB`` (``namespace/name``) has pods ``<name>-<i>`` behind the
headless Service ``<name>-internal``; a plain StatefulSet (``statefulset/namespace/name``) has
pods ``<name>-<i>`` behind ``spec.serviceName``. Credentials: settings (KFOPS_GALERA_USER /
KFOPS_GALERA_PASSWORD) or the Secret ``settings.galera_secret`` (keys ``username`` and
``password``) — never a command-line argument, so they never show in ``ps`` or shell history.
"""

from __future__ import annotations

import base64
import binascii

from kfops.clients.errors import ConfigurationError, ReaderError
from kfops.clients.protocols import KubeReader
from kfops.clients.resources import MARIADBS, SECRETS, STATEFULSETS
from kfops.settings import Settings


def _split(ref: str) -> tuple[str, str, str]:
    parts = ref.split("/")
    if len(parts) == 2:
        return "mariadb", parts[0], parts[1]
    if len(parts) == 3 and parts[0] in ("mariadb", "statefulset"):
        return parts[0], parts[1], parts[2]
    raise ConfigurationError(
        f"settings.galera_mariadb {ref!r} must be NAMESPACE/NAME (a MariaDB) or statefulset/NAMESPACE/NAME"
    )


def discover(kube: KubeReader, ref: str, port: int) -> tuple[tuple[str, ...], int]:
    """(node addresses, expected size) of the MariaDB or StatefulSet `ref` names."""
    kind, namespace, name = _split(ref)
    try:
        if kind == "mariadb":
            obj = kube.get(MARIADBS, name, namespace).value
            spec = obj.get("spec") or {}
            replicas, service = int(spec.get("replicas") or 1), f"{name}-internal"
            port = int(spec.get("port") or port)
        else:
            obj = kube.get(STATEFULSETS, name, namespace).value
            spec = obj.get("spec") or {}
            replicas, service = int(spec.get("replicas") or 1), str(spec.get("serviceName") or name)
    except ReaderError as exc:
        raise ConfigurationError(
            f"cannot discover the Galera nodes from {kind} {namespace}/{name}: {exc.headline}"
        ) from exc
    hosts = tuple(f"{name}-{i}.{service}.{namespace}.svc.cluster.local:{port}" for i in range(replicas))
    return hosts, replicas


def credentials(settings: Settings, kube: KubeReader | None) -> tuple[str, str]:
    """The read-only user and password; a ConfigurationError says where they are looked for."""
    if settings.galera_user:
        return settings.galera_user, settings.galera_password
    if not settings.galera_secret:
        raise ConfigurationError(
            "no Galera credentials: set KFOPS_GALERA_USER and KFOPS_GALERA_PASSWORD "
            "(or settings.galera_secret = NAMESPACE/NAME of a Secret with username and password)"
        )
    namespace, _, name = settings.galera_secret.partition("/")
    if kube is None or not name:
        raise ConfigurationError(f"settings.galera_secret {settings.galera_secret!r} must be NAMESPACE/NAME")
    try:
        data = kube.get(SECRETS, name, namespace).value.get("data") or {}
        user = base64.b64decode(data.get("username", ""), validate=True).decode()
        password = base64.b64decode(data.get("password", ""), validate=True).decode()
    except ReaderError as exc:
        raise ConfigurationError(f"cannot read the Galera credentials Secret: {exc.headline}") from exc
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise ConfigurationError(
            f"Secret {settings.galera_secret}: username/password are not valid base64"
        ) from exc
    if not user:
        raise ConfigurationError(f"Secret {settings.galera_secret} has no 'username' key")
    return user, password
