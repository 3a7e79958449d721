"""How the API is configured, and where its JWT signing key comes from.

:class:`ApiSettings` is the ``api`` section of :class:`tickmesh.config.Settings`
(``TICKMESH_API__ACCESS_TOKEN_TTL_S=600``). The signing key is a secret and stays with
the other secrets: ``secrets.api_jwt_secret`` (``TICKMESH_SECRETS__API_JWT_SECRET``).

Without a key the API refuses to start: a guessable default would let anyone mint an admin
token, and a key generated silently would log every user out at each restart without saying
why. ``dev_random_secret = true`` asks for exactly that on purpose, for a laptop session: a
random key for this process only.
"""

from __future__ import annotations

import logging
import secrets

from tickmesh.config import Settings
from tickmesh.config.settings import ApiSettings
from tickmesh.core.errors import ConfigError

log = logging.getLogger(__name__)

MIN_SECRET_LENGTH = 32
__all__ = ["MIN_SECRET_LENGTH", "ApiSettings", "signing_secret"]


def signing_secret(settings: Settings, api: ApiSettings) -> str:
    """The HS256 key: the configured secret, or a random one when ``dev_random_secret`` says so.
    Raises :class:`ConfigError` saying how to set one; the value itself is never shown."""
    configured = settings.secrets.api_jwt_secret
    if configured is not None:
        value = configured.get_secret_value()
        if len(value) < MIN_SECRET_LENGTH:
            raise ConfigError(
                f"secrets.api_jwt_secret is {len(value)} characters; use at least "
                f"{MIN_SECRET_LENGTH} random ones (e.g. python -c 'import secrets; "
                "print(secrets.token_urlsafe(48))')"
            )
        return value
    if api.dev_random_secret:
        log.warning(
            "api: no secrets.api_jwt_secret set; signing tokens with a random key for this "
            "process only (api.dev_random_secret): every token dies when it stops"
        )
        return secrets.token_urlsafe(48)
    raise ConfigError(
        "api: no JWT signing key; set TICKMESH_SECRETS__API_JWT_SECRET to at least "
        f"{MIN_SECRET_LENGTH} random characters, or api.dev_random_secret = true for a "
        "throwaway per-process key on a development machine"
    )
