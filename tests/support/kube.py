"""Typed access to the Kubernetes client for tests: the unannotated config calls, and metadata.

The client's models mark every field Optional, and ``kubernetes.config`` ships no annotations;
these helpers keep ``mypy --strict`` on test code without a cast or an ignore at every call.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from kubernetes import client, config


def new_api_client(kubeconfig: str | Path, context: str) -> client.ApiClient:
    """An independent ApiClient for one kubeconfig context (the process-global config is untouched)."""
    # kubernetes.config is unannotated; it returns a client.ApiClient.
    api: client.ApiClient = config.new_client_from_config(  # type: ignore[no-untyped-call]
        config_file=str(kubeconfig), context=context
    )
    return api


def close_api_client(api: client.ApiClient) -> None:
    """``api.close()``: its thread pool and connections."""
    api.close()  # type: ignore[no-untyped-call]  # ApiClient.close is unannotated


class HasMetadata(Protocol):
    """Any Kubernetes model object: every kind has ``metadata``."""

    @property
    def metadata(self) -> client.V1ObjectMeta | None: ...


def metadata(obj: HasMetadata) -> client.V1ObjectMeta:
    """``obj.metadata``, which the API server always sets on an object it returns."""
    assert obj.metadata is not None, f"{type(obj).__name__} without metadata"
    return obj.metadata
