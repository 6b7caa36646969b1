"""Notifiers: how a reminder leaves the outbox (a log line, an e-mail or a signed webhook).

Choose one per deployment with :func:`load_notifier` from the ``[notifier]`` table of
the scheduler's config file; see docs/notifiers.md.
"""

from beslut.scheduler.notifiers.base import DeliveryError, Message, MessageKind, Notifier, Recipient
from beslut.scheduler.notifiers.config import ConfigError, load_notifier, read_config_file
from beslut.scheduler.notifiers.log import LogNotifier
from beslut.scheduler.notifiers.smtp import SmtpNotifier, message_id_for
from beslut.scheduler.notifiers.text import Text, format_date_sv, render_text
from beslut.scheduler.notifiers.webhook import WebhookNotifier, encode_body, sign, verify_signature

__all__ = [
    "ConfigError",
    "DeliveryError",
    "LogNotifier",
    "Message",
    "MessageKind",
    "Notifier",
    "Recipient",
    "SmtpNotifier",
    "Text",
    "WebhookNotifier",
    "encode_body",
    "format_date_sv",
    "load_notifier",
    "message_id_for",
    "read_config_file",
    "render_text",
    "sign",
    "verify_signature",
]
