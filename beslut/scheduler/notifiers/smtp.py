"""E-mail through an SMTP server (smtplib): Swedish text, STARTTLS, credentials from the environment.

One connection per message: connect, optionally STARTTLS (never falling back to clear
text when it is configured), optionally AUTH, send, QUIT. A server that is down now is
simply tried again by the outbox with the same notifier object.

The Message-ID is derived from the outbox's dedupe key, so a retry after a crash
between "delivered" and "marked sent" carries the same Message-ID, and the key itself
travels in ``X-Beslut-Dedupe-Key``: a receiver (or a mail filter) can drop duplicates.
"""

from __future__ import annotations

import hashlib
import re
import smtplib
import ssl
from contextlib import suppress
from email.errors import MessageError
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr

from beslut.clock import Clock, SystemClock
from beslut.errors import InvalidInput
from beslut.scheduler.notifiers.base import DeliveryError, Message
from beslut.scheduler.notifiers.text import DEFAULT_SIGNATURE, render_text

_ADDRESS = re.compile(r"[^\s<>@,;:]+@[^\s<>@,;:]+")  # anything shaped like an e-mail address

DEDUPE_HEADER = "X-Beslut-Dedupe-Key"
KIND_HEADER = "X-Beslut-Kind"


def parse_address(text: str) -> Address:
    """``"Name <local@domain>"`` or ``"local@domain"`` as an :class:`Address`; ValueError if it is not one."""
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in text):
        raise ValueError("not an e-mail address")
    name, addr = parseaddr(text)
    if addr not in text:  # parseaddr quietly drops what it cannot parse
        raise ValueError("not an e-mail address")
    if not addr or addr.count("@") != 1 or any(ch.isspace() for ch in addr):
        raise ValueError("not an e-mail address")
    local, domain = addr.split("@")
    if not local or not domain:
        raise ValueError("not an e-mail address")
    try:
        return Address(display_name=name, username=local, domain=domain)
    except (ValueError, MessageError) as exc:
        raise ValueError("not an e-mail address") from exc


def _recipient_address(email: str, name: str | None) -> Address:
    """A contact's bare address (no display name, nothing parseaddr would drop) with the contact's name."""
    bare = parse_address(email)
    if bare.display_name or bare.addr_spec != email.strip():
        raise ValueError("not a bare e-mail address")
    if not name:
        return bare
    return Address(display_name=name, username=bare.username, domain=bare.domain)


def message_id_for(dedupe_key: str, domain: str) -> str:
    """The Message-ID of the message with *dedupe_key*: the same key always gives the same id."""
    digest = hashlib.sha256(dedupe_key.encode("utf-8")).hexdigest()[:40]
    return f"<beslut.{digest}@{_ascii_domain(domain)}>"


def _ascii_domain(domain: str) -> str:
    try:
        return domain.encode("idna").decode("ascii")
    except UnicodeError:
        return "beslut.invalid"


class SmtpNotifier:
    """Sends each message as a plain-text UTF-8 e-mail to the recipient's address.

    ``sender`` is the From address (``"Region Jämtland Härjedalen <noreply@example.se>"``);
    ``username``/``password`` are the credentials themselves (the config loader reads
    them from the environment variables it names) and require ``starttls``, so a
    password never crosses the network in clear text. ``ca_file`` adds a CA bundle to
    trust for the server's certificate (instead of the system's).
    """

    name = "smtp"

    def __init__(
        self,
        *,
        host: str,
        sender: str,
        port: int = 25,
        starttls: bool = False,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 30.0,
        ca_file: str | None = None,
        reply_to: str | None = None,
        message_id_domain: str | None = None,
        signature: str = DEFAULT_SIGNATURE,
        clock: Clock | None = None,
    ) -> None:
        if (username is None) != (password is None):
            raise InvalidInput("smtp: give both username and password, or neither")
        if username is not None and not starttls:
            raise InvalidInput("smtp: credentials need starttls (the password would cross the network in clear)")
        if not (username or "").isascii() or not (password or "").isascii():
            raise InvalidInput("smtp: credentials must be ASCII (smtplib cannot send others)")
        if not timeout > 0:
            raise InvalidInput("smtp: timeout must be positive")
        self.host = host
        self.port = port
        self.sender = parse_address(sender)
        self.reply_to = parse_address(reply_to) if reply_to else None
        self.starttls = starttls
        self.timeout = timeout
        self.ca_file = ca_file
        self.message_id_domain = message_id_domain or self.sender.domain
        self.signature = signature
        self._username = username
        self._password = password
        self._clock: Clock = clock or SystemClock()
        self._tls_context = ssl.create_default_context(cafile=ca_file) if starttls else None

    def __repr__(self) -> str:  # no password in reprs, logs or tracebacks
        auth = ", auth" if self._username is not None else ""
        tls = ", starttls" if self.starttls else ""
        return f"SmtpNotifier({self.host}:{self.port}{tls}{auth})"

    def compose(self, message: Message) -> EmailMessage:
        """The e-mail for *message*; DeliveryError (permanent) if the recipient has no usable address."""
        recipient = message.recipient
        if not recipient.email:
            raise DeliveryError(
                f"smtp: contact {recipient.contact_id!r} has no e-mail address (outbox {message.outbox_id})",
                permanent=True,
            )
        try:
            to = _recipient_address(recipient.email, recipient.name)
        except ValueError as exc:
            raise DeliveryError(
                f"smtp: contact {recipient.contact_id!r} has an invalid e-mail address or name "
                f"(outbox {message.outbox_id})",
                permanent=True,
            ) from exc
        text = render_text(message, signature=self.signature)
        email = EmailMessage()
        try:
            email["From"] = self.sender
            email["To"] = to
            if self.reply_to is not None:
                email["Reply-To"] = self.reply_to
            email["Subject"] = text.subject
            email["Date"] = format_datetime(self._clock.now())
            email["Message-ID"] = message_id_for(message.dedupe_key, self.message_id_domain)
            email[DEDUPE_HEADER] = message.dedupe_key
            email[KIND_HEADER] = message.kind
            email["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies, please
            email["Content-Language"] = "sv"
        except (ValueError, MessageError) as exc:  # e.g. a line break in a header value
            raise DeliveryError(
                f"smtp: outbox {message.outbox_id} cannot be written as an e-mail: {exc}", permanent=True
            ) from exc
        email.set_content(text.body, charset="utf-8", cte="quoted-printable")
        return email

    def send(self, message: Message) -> None:
        """Deliver *message* once, or raise DeliveryError from the smtplib or OS error."""
        email = self.compose(message)
        where = f"smtp {self.host}:{self.port}"
        try:
            # Connecting in the constructor also tells starttls() the host name to check the certificate
            # against; smtplib closes the socket itself when the greeting fails.
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"{where}: {type(exc).__name__}: {_ADDRESS.sub('<address>', str(exc))}") from exc
        try:
            if self._tls_context is not None:
                smtp.starttls(context=self._tls_context)
            if self._username is not None and self._password is not None:
                smtp.login(self._username, self._password)
            smtp.send_message(email)
            with suppress(smtplib.SMTPException, OSError):  # it is delivered; a failed QUIT changes nothing
                smtp.quit()
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            raise DeliveryError(
                f"{where}: recipient of outbox {message.outbox_id} (contact {message.recipient.contact_id!r}) "
                f"refused with {', '.join(str(code) for code in codes)}",
                permanent=bool(codes) and all(code >= 500 for code in codes),
            ) from exc
        except smtplib.SMTPResponseException as exc:
            reply_text = (
                exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else exc.smtp_error
            )
            # Servers often quote the recipient's address; it must not reach the logs or the outbox.
            reply_text = _ADDRESS.sub("<address>", reply_text)
            raise DeliveryError(f"{where}: {type(exc).__name__}: {exc.smtp_code} {reply_text}") from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"{where}: {type(exc).__name__}: {_ADDRESS.sub('<address>', str(exc))}") from exc
        finally:
            smtp.close()
