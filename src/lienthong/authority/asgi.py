"""The CA's ASGI app built from the environment, for ``lienthong ca serve --workers N``.

uvicorn starts each worker process by importing an app, so the worker cannot receive Python
objects from the command line; it reads the same settings from the environment instead:
``LIENTHONG_CA_DIR`` (the CA directory), ``LIENTHONG_CA_PASSPHRASE`` and, optionally,
``LIENTHONG_OPERATOR_TOKEN``, and ``LIENTHONG_PKCS11_MODULE`` + ``LIENTHONG_PKCS11_PIN`` when
the CA keys are in a token. Run it by hand with
``uvicorn --factory lienthong.authority.asgi:app_from_environment --workers 2``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from starlette.types import ASGIApp

from lienthong.authority.http import create_app
from lienthong.authority.service import AuthorityService, token_from_environment
from lienthong.domain.errors import UsageError

CA_DIR_ENV = "LIENTHONG_CA_DIR"
PASSPHRASE_ENV = "LIENTHONG_CA_PASSPHRASE"  # noqa: S105 - the name of a variable
OPERATOR_TOKEN_ENV = "LIENTHONG_OPERATOR_TOKEN"  # noqa: S105 - the name of a variable


def utc_now() -> datetime:
    """The clock of the served app."""
    return datetime.now(UTC)


def build_app(service: AuthorityService, operator_token: str | None) -> ASGIApp:
    """The app ``ca serve`` runs, in one process or in each worker.

    Status calls run inline on the event loop: they are short CPU work on keys in memory and
    one ~25 µs read, so handing them to worker threads would only add thread switches (2-3x
    slower, measured in bench/RESULTS.md). Registration calls, which write and may wait for
    the database's write lock, still run in worker threads.
    """
    return create_app(service, service, clock=utc_now, operator_token=operator_token, offload=False)


def app_from_environment(environ: Mapping[str, str] = os.environ) -> ASGIApp:
    """The app for one worker process, configured from the environment."""
    directory = environ.get(CA_DIR_ENV)
    passphrase = environ.get(PASSPHRASE_ENV)
    if not directory or not passphrase:
        raise UsageError(detail=f"set {CA_DIR_ENV} and {PASSPHRASE_ENV}")
    service = AuthorityService(Path(directory), passphrase, token=token_from_environment(environ))
    return build_app(service, environ.get(OPERATOR_TOKEN_ENV) or None)


__all__ = ["app_from_environment", "build_app"]
