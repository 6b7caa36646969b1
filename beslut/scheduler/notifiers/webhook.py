"""A signed JSON POST per message (urllib, no extra dependency).

The body is a JSON object of ids, keys and dates (never an e-mail address; see
docs/notifiers.md for the schema). Three headers let a receiver trust and de-duplicate it:

- ``X-Beslut-Timestamp``: Unix seconds when this attempt was signed;
- ``X-Beslut-Signature``: ``sha256=`` + hex HMAC-SHA256, keyed with the shared secret,
  of ``timestamp + "." + body`` (the exact body bytes);
- ``X-Beslut-Delivery``: the outbox dedupe key, the same on every retry of one message.

:func:`verify_signature` is the receiver's side, for receivers written in Python.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from beslut.clock import Clock, SystemClock
from beslut.errors import InvalidInput
from beslut.scheduler.notifiers.base import DeliveryError, Message

SIGNATURE_HEADER = "X-Beslut-Signature"
TIMESTAMP_HEADER = "X-Beslut-Timestamp"
DELIVERY_HEADER = "X-Beslut-Delivery"
DEFAULT_MAX_AGE = 300.0
_SNIPPET = 200


def payload(message: Message) -> dict[str, Any]:
    """The JSON object sent for *message* (before encoding)."""
    return {
        "kind": message.kind,
        "recommendation": message.recommendation,
        "recommendation_title": message.recommendation_title,
        "party": message.party,
        "party_name": message.party_name,
        "due_at": message.due_at.isoformat(),
        "reply_by": message.reply_by.isoformat() if message.reply_by else None,
        "contact_id": message.recipient.contact_id,
        "dedupe_key": message.dedupe_key,
        "details": _jsonable(message.details),
    }


def encode_body(message: Message) -> bytes:
    """The exact body bytes: compact UTF-8 JSON with sorted keys (the same message gives the same bytes)."""
    return json.dumps(payload(message), ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")


def sign(secret: str | bytes, timestamp: str, body: bytes) -> str:
    """The ``X-Beslut-Signature`` value: ``sha256=`` + hex HMAC-SHA256 of ``timestamp + "." + body``."""
    key = secret.encode("utf-8") if isinstance(secret, str) else secret
    digest = hmac.new(key, timestamp.encode("ascii") + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify_signature(
    secret: str | bytes,
    timestamp: str,
    body: bytes,
    header: str,
    *,
    max_age: float | None = DEFAULT_MAX_AGE,
    now: float | None = None,
) -> bool:
    """The receiver's check: True if *header* signs *timestamp* and the exact *body* bytes with *secret*.

    Compares in constant time. With ``max_age`` (seconds, default 300) a timestamp
    further than that from *now* (default: the system clock) is refused too, so a
    captured request cannot be replayed later; pass ``max_age=None`` to skip that.
    De-duplicate on ``X-Beslut-Delivery`` as well: a retry is signed afresh.
    """
    try:
        expected = sign(secret, timestamp, body)
    except UnicodeEncodeError:
        return False
    if not hmac.compare_digest(expected.encode("ascii"), header.strip().lower().encode("utf-8")):
        return False
    if max_age is None:
        return True
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    current = time.time() if now is None else now
    return abs(current - sent) <= max_age


def delivery_header(dedupe_key: str) -> str:
    """The dedupe key as a header value: as is when printable ASCII, else percent-encoded UTF-8."""
    if all(" " <= ch <= "~" for ch in dedupe_key):
        return dedupe_key
    return urllib.parse.quote(dedupe_key, safe="")


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [_jsonable(item) for item in value]
        return sorted(items, key=repr) if isinstance(value, set | frozenset) else items
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def _origin(url: str) -> str:
    """``scheme://host:port`` only: a webhook URL's path or query often holds a token, so it is never shown."""
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is a failed delivery: urllib would re-send a POST as a GET without the body."""

    def redirect_request(  # noqa: PLR0917 - urllib's signature
        self,
        req: urllib.request.Request,
        fp: Any,
        code: int,
        msg: str,
        headers: Any,
        newurl: str,
    ) -> urllib.request.Request | None:
        return None


class WebhookNotifier:
    """POSTs each message as signed JSON to ``url`` (http or https only).

    ``secret`` is the shared HMAC key itself (the config loader reads it from the
    environment variable it names). ``proxy`` is an explicit proxy URL; without it the
    notifier connects directly and ignores ``http_proxy``/``https_proxy``. ``ca_file``
    adds a CA bundle to trust for an https receiver.
    """

    name = "webhook"

    def __init__(
        self,
        *,
        url: str,
        secret: str | bytes,
        timeout: float = 10.0,
        proxy: str | None = None,
        ca_file: str | None = None,
        clock: Clock | None = None,
    ) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise InvalidInput("webhook: url must be an http:// or https:// URL with a host")
        if not secret:
            raise InvalidInput("webhook: secret must not be empty")
        if not timeout > 0:
            raise InvalidInput("webhook: timeout must be positive")
        self.url = url
        self.timeout = timeout
        self._secret = secret.encode("utf-8") if isinstance(secret, str) else secret
        self._clock: Clock = clock or SystemClock()
        proxies = {"http": proxy, "https": proxy} if proxy else {}
        context = ssl.create_default_context(cafile=ca_file)
        self._opener = urllib.request.build_opener(
            urllib.request.ProxyHandler(proxies),
            urllib.request.HTTPSHandler(context=context),
            _NoRedirects(),
        )

    def __repr__(self) -> str:  # no secret and no URL path (it may hold a token)
        return f"WebhookNotifier({_origin(self.url)})"

    def request(self, message: Message) -> urllib.request.Request:
        """The signed POST for *message*, signed now."""
        body = encode_body(message)
        timestamp = str(int(self._clock.now().timestamp()))
        return urllib.request.Request(  # noqa: S310 - the scheme is checked to be http(s) in __init__
            self.url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "User-Agent": "beslut-webhook/1",
                TIMESTAMP_HEADER: timestamp,
                SIGNATURE_HEADER: sign(self._secret, timestamp, body),
                DELIVERY_HEADER: delivery_header(message.dedupe_key),
            },
        )

    def send(self, message: Message) -> None:
        """POST *message* once; a non-2xx answer or a network error raises DeliveryError."""
        where = f"webhook {_origin(self.url)}"
        request = self.request(message)
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                status = response.status
                response.read(64 * 1024)
        except urllib.error.HTTPError as exc:
            with exc:
                snippet = _snippet(exc)
            raise DeliveryError(f"{where}: HTTP {exc.code} {exc.reason}{snippet} (outbox {message.outbox_id})") from exc
        except urllib.error.URLError as exc:
            raise DeliveryError(f"{where}: {type(exc.reason).__name__}: {exc.reason}") from exc
        except (OSError, http.client.HTTPException) as exc:
            raise DeliveryError(f"{where}: {type(exc).__name__}: {exc}") from exc
        if not 200 <= status < 300:
            raise DeliveryError(f"{where}: HTTP {status} (outbox {message.outbox_id})")


def _snippet(exc: urllib.error.HTTPError) -> str:
    try:
        raw = exc.read(_SNIPPET)
    except (OSError, http.client.HTTPException):
        return ""
    text = raw.decode("utf-8", "replace").strip().replace("\n", " ") if raw else ""
    return f": {text}" if text else ""
