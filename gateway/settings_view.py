"""What ``oadr-gateway config show`` prints: the settings in force, every secret masked.

Secrets are the tokens (``SecretStr``) and any password inside a URL (user-info or a
``password`` query parameter); the database URL shown is the one really used, the SQLite file
of ``data_dir`` included.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from gateway.settings import Settings

MASK = "**********"  # what pydantic prints for a SecretStr
_SECRET_QUERY_KEYS = frozenset({"password", "passwd", "pass", "token", "secret"})


def mask_url(url: str) -> str:
    """``url`` with its password and secret query parameters replaced by ``MASK``."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, host = netloc.rpartition("@")
        user, colon, _password = userinfo.partition(":")
        netloc = f"{user}:{MASK}@{host}" if colon else f"{userinfo}@{host}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode(
            [(k, MASK if k.lower() in _SECRET_QUERY_KEYS else v) for k, v in pairs], safe="*"
        )
    if (netloc, query) == (parts.netloc, parts.query):
        return url  # nothing secret; urlunsplit would also drop the "//" of "sqlite:///…"
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def shown_settings(settings: Settings) -> dict[str, Any]:
    shown: dict[str, Any] = settings.model_dump(mode="json")
    shown["database_url"] = mask_url(settings.resolved_database_url)
    if settings.redis_url is not None:
        shown["redis_url"] = mask_url(settings.redis_url)
    if settings.upstream is not None:
        shown["upstream"]["vtn_url"] = mask_url(settings.upstream.vtn_url)
    return shown


def render(settings: Settings) -> str:
    return json.dumps(shown_settings(settings), indent=2)
