"""Choose and build the notifier from the ``[notifier]`` table of the scheduler's TOML config.

Every refusal is an :class:`InvalidInput` whose message names the field
(``config field 'notifier.smtp.port': must be an integer 1-65535``), and it happens
when the daemon starts: a credential whose environment variable is not set is refused
here, not at the first reminder. Secrets never appear in the file (only the *names* of
the environment variables that hold them) and never in an error message.

Both sub-tables may be present at once (to switch with one line); each present one is
checked for unknown keys and bad values, but only the chosen kind's environment
variables are read.
"""

from __future__ import annotations

import os
import re
import ssl
import tomllib
import urllib.parse
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from beslut.errors import InvalidInput
from beslut.scheduler.notifiers.base import Notifier
from beslut.scheduler.notifiers.log import LogNotifier
from beslut.scheduler.notifiers.smtp import SmtpNotifier, parse_address
from beslut.scheduler.notifiers.webhook import WebhookNotifier

KINDS = ("log", "smtp", "webhook")

_T = TypeVar("_T")

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_DOMAIN = re.compile(r"[^\s@<>()\[\],;:\"\\]+\.[^\s@<>()\[\],;:\"\\]+\Z")

_NOTIFIER_KEYS = ("kind", "smtp", "webhook")
_SMTP_KEYS = (
    "host",
    "port",
    "sender",
    "reply_to",
    "starttls",
    "ca_file",
    "username_env",
    "password_env",
    "timeout",
    "message_id_domain",
    "signature",
)
_WEBHOOK_KEYS = ("url", "secret_env", "timeout", "proxy", "ca_file")
# Keys someone may write by mistake, with the secret itself in the file.
_SECRET_HINTS = {"username": "username_env", "password": "password_env", "secret": "secret_env"}


class ConfigError(InvalidInput):
    """A bad scheduler config value; the message names the field."""

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"config field {field!r}: {problem}")


def read_config_file(path: str | Path) -> dict[str, Any]:
    """The parsed TOML config file at *path*; InvalidInput if it is missing or not TOML."""
    try:
        with Path(path).open("rb") as handle:
            return tomllib.load(handle)
    except OSError as exc:
        raise InvalidInput(f"config file {str(path)!r}: cannot be read: {exc.strerror or exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(f"config file {str(path)!r}: not valid TOML: {exc}") from exc


def load_notifier(config: Mapping[str, Any], *, environ: Mapping[str, str] | None = None) -> Notifier:
    """The notifier the ``[notifier]`` table of *config* (a whole parsed config file) asks for.

    Without a ``[notifier]`` table, or without ``kind``, it is the :class:`LogNotifier`.
    Credentials are read from *environ* (default: ``os.environ``) now.
    """
    env: Mapping[str, str] = os.environ if environ is None else environ
    raw = config.get("notifier", {})
    table = _table(raw, "notifier")
    _known_keys(table, "notifier", _NOTIFIER_KEYS)
    kind = table.get("kind", "log")
    if not isinstance(kind, str) or kind not in KINDS:
        raise ConfigError("notifier.kind", f"must be one of {', '.join(repr(k) for k in KINDS)}")
    smtp = _smtp_settings(_table(table["smtp"], "notifier.smtp")) if "smtp" in table else None
    webhook = _webhook_settings(_table(table["webhook"], "notifier.webhook")) if "webhook" in table else None
    if kind == "smtp":
        if smtp is None:
            raise ConfigError("notifier.smtp", 'is required when kind = "smtp"')
        return _build_smtp(smtp, env)
    if kind == "webhook":
        if webhook is None:
            raise ConfigError("notifier.webhook", 'is required when kind = "webhook"')
        return _build_webhook(webhook, env)
    return LogNotifier()


def _smtp_settings(table: Mapping[str, Any]) -> dict[str, Any]:
    prefix = "notifier.smtp"
    _known_keys(table, prefix, _SMTP_KEYS)
    settings: dict[str, Any] = {
        "host": _string(table, prefix, "host", required=True),
        "port": _port(table, prefix, "port", default=25),
        "sender": _address(table, prefix, "sender", required=True),
        "reply_to": _address(table, prefix, "reply_to", required=False),
        "starttls": _boolean(table, prefix, "starttls", default=False),
        "ca_file": _file(table, prefix, "ca_file"),
        "username_env": _env_name(table, prefix, "username_env"),
        "password_env": _env_name(table, prefix, "password_env"),
        "timeout": _seconds(table, prefix, "timeout", default=30.0),
        "message_id_domain": _domain(table, prefix, "message_id_domain"),
        "signature": _string(table, prefix, "signature", required=False),
    }
    user, password = settings["username_env"], settings["password_env"]
    if (user is None) != (password is None):
        missing = "password_env" if password is None else "username_env"
        other = "username_env" if password is None else "password_env"
        raise ConfigError(f"{prefix}.{missing}", f"is required together with {other!r}")
    if user is not None and not settings["starttls"]:
        raise ConfigError(
            f"{prefix}.starttls", "must be true when credentials are configured (the password would go in clear text)"
        )
    if settings["ca_file"] is not None and not settings["starttls"]:
        raise ConfigError(f"{prefix}.ca_file", "is only used with starttls = true")
    return settings


def _webhook_settings(table: Mapping[str, Any]) -> dict[str, Any]:
    prefix = "notifier.webhook"
    _known_keys(table, prefix, _WEBHOOK_KEYS)
    secret_env = _env_name(table, prefix, "secret_env")
    if secret_env is None:
        raise ConfigError(
            f"{prefix}.secret_env", "is required: the name of the environment variable holding the secret"
        )
    return {
        "url": _url(table, prefix, "url", required=True),
        "secret_env": secret_env,
        "timeout": _seconds(table, prefix, "timeout", default=10.0),
        "proxy": _url(table, prefix, "proxy", required=False),
        "ca_file": _file(table, prefix, "ca_file"),
    }


def _build_smtp(settings: Mapping[str, Any], env: Mapping[str, str]) -> SmtpNotifier:
    prefix = "notifier.smtp"
    username = password = None
    if settings["username_env"] is not None:
        username = _from_env(env, f"{prefix}.username_env", settings["username_env"], ascii_only=True)
        password = _from_env(env, f"{prefix}.password_env", settings["password_env"], ascii_only=True)
    extra: dict[str, Any] = {}
    if settings["signature"] is not None:
        extra["signature"] = settings["signature"]
    return _with_ca_file(
        f"{prefix}.ca_file",
        lambda: SmtpNotifier(
            host=settings["host"],
            port=settings["port"],
            sender=settings["sender"],
            reply_to=settings["reply_to"],
            starttls=settings["starttls"],
            ca_file=settings["ca_file"],
            username=username,
            password=password,
            timeout=settings["timeout"],
            message_id_domain=settings["message_id_domain"],
            **extra,
        ),
    )


def _build_webhook(settings: Mapping[str, Any], env: Mapping[str, str]) -> WebhookNotifier:
    prefix = "notifier.webhook"
    secret = _from_env(env, f"{prefix}.secret_env", settings["secret_env"])
    return _with_ca_file(
        f"{prefix}.ca_file",
        lambda: WebhookNotifier(
            url=settings["url"],
            secret=secret,
            timeout=settings["timeout"],
            proxy=settings["proxy"],
            ca_file=settings["ca_file"],
        ),
    )


def _with_ca_file(field: str, build: Callable[[], _T]) -> _T:
    try:
        return build()
    except (ssl.SSLError, OSError) as exc:  # the CA file exists but holds no usable certificate
        raise ConfigError(field, f"cannot be loaded as PEM certificates: {exc}") from exc


def _from_env(env: Mapping[str, str], field: str, name: str, *, ascii_only: bool = False) -> str:
    value = env.get(name)
    if not value:
        raise ConfigError(field, f"environment variable {name!r} is not set (or empty)")
    if ascii_only and not value.isascii():
        raise ConfigError(field, f"environment variable {name!r} holds non-ASCII characters, which smtplib cannot send")
    return value


# -- one checker per kind of value; each names its field and never echoes a value that may be secret


def _table(value: Any, field: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(field, "must be a table")
    return value


def _known_keys(table: Mapping[str, Any], prefix: str, known: tuple[str, ...]) -> None:
    for key in table:
        if key in known:
            continue
        if key in _SECRET_HINTS and _SECRET_HINTS[key] in known:
            raise ConfigError(
                f"{prefix}.{key}",
                f"secrets do not belong in the file: put it in an environment variable and name that in "
                f"{_SECRET_HINTS[key]!r}",
            )
        raise ConfigError(f"{prefix}.{key}", f"unknown key; known keys: {', '.join(known)}")


def _string(table: Mapping[str, Any], prefix: str, key: str, *, required: bool) -> str | None:
    value = table.get(key)
    if value is None:
        if required:
            raise ConfigError(f"{prefix}.{key}", "is required")
        return None
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{prefix}.{key}", "must be a non-empty string")
    if any(ch in value for ch in "\r\n") and key != "signature":
        raise ConfigError(f"{prefix}.{key}", "must be a single line")
    return value


def _port(table: Mapping[str, Any], prefix: str, key: str, *, default: int) -> int:
    value = table.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 65535:
        raise ConfigError(f"{prefix}.{key}", "must be an integer 1-65535")
    return value


def _boolean(table: Mapping[str, Any], prefix: str, key: str, *, default: bool) -> bool:
    value = table.get(key, default)
    if not isinstance(value, bool):
        raise ConfigError(f"{prefix}.{key}", "must be true or false")
    return value


def _seconds(table: Mapping[str, Any], prefix: str, key: str, *, default: float) -> float:
    value = table.get(key, default)
    if not isinstance(value, int | float) or isinstance(value, bool) or not 0 < value <= 600:
        raise ConfigError(f"{prefix}.{key}", "must be a number of seconds, more than 0 and at most 600")
    return float(value)


def _address(table: Mapping[str, Any], prefix: str, key: str, *, required: bool) -> str | None:
    value = _string(table, prefix, key, required=required)
    if value is None:
        return None
    try:
        parse_address(value)
    except ValueError:
        raise ConfigError(
            f"{prefix}.{key}", "must be an e-mail address, like 'Region Jämtland Härjedalen <noreply@example.se>'"
        ) from None
    return value


def _env_name(table: Mapping[str, Any], prefix: str, key: str) -> str | None:
    value = table.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not _ENV_NAME.match(value):
        # The value is not echoed: it may be the secret itself, written here by mistake.
        raise ConfigError(
            f"{prefix}.{key}", "must be the NAME of an environment variable (letters, digits, _), not the secret"
        )
    return value


def _file(table: Mapping[str, Any], prefix: str, key: str) -> str | None:
    value = _string(table, prefix, key, required=False)
    if value is None:
        return None
    if not Path(value).is_file():
        raise ConfigError(f"{prefix}.{key}", f"no such file: {value!r}")
    return value


def _domain(table: Mapping[str, Any], prefix: str, key: str) -> str | None:
    value = _string(table, prefix, key, required=False)
    if value is not None and not _DOMAIN.match(value):
        raise ConfigError(f"{prefix}.{key}", "must be a domain name, like 'example.se'")
    return value


def _url(table: Mapping[str, Any], prefix: str, key: str, *, required: bool) -> str | None:
    value = _string(table, prefix, key, required=required)
    if value is None:
        return None
    try:
        parts = urllib.parse.urlsplit(value)
        valid = parts.scheme in {"http", "https"} and bool(parts.hostname) and not any(ch.isspace() for ch in value)
        _ = parts.port  # a bad port raises ValueError
    except ValueError:
        valid = False
    if not valid:
        # The URL is not echoed: its path or query may hold a token.
        raise ConfigError(f"{prefix}.{key}", "must be an http:// or https:// URL with a host")
    return value
