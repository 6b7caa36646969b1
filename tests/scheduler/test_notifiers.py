"""Notifiers: the Swedish text, the log line, e-mail through a real SMTP server (plain, STARTTLS + AUTH,
down and back), a signed webhook to a real HTTP server, and the [notifier] config with its refusals.

All servers listen on 127.0.0.1 only and are stopped by the test that started them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import pickle
import re
import threading
import time
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import structlog

from beslut.clock import STOCKHOLM, FixedClock
from beslut.errors import InvalidInput
from beslut.scheduler.notifiers import (
    ConfigError,
    DeliveryError,
    LogNotifier,
    Message,
    Recipient,
    SmtpNotifier,
    WebhookNotifier,
    encode_body,
    format_date_sv,
    load_notifier,
    message_id_for,
    read_config_file,
    render_text,
    sign,
    verify_signature,
)
from beslut.scheduler.notifiers.text import DASH
from tests.scheduler.notifier_servers import (
    Receiver,
    SmtpSink,
    free_port,
    make_tls_files,
    password_authenticator,
    smtp_server,
    webhook_server,
)

DOCS = Path(__file__).resolve().parents[2] / "docs" / "notifiers.md"
KEY = "svom-2022-mini-maria"
TITLE = "Mini-Maria Jämtland: inriktningsbeslut och finansiering"
EMAIL = "asa.oberg@ostersund.example"
CLERK = "Åsa Öberg"
SENDER = "Region Jämtland Härjedalen <noreply@regionjh.example>"
SECRET = "s3cret-hmac-key-åäö"
CLOCK = FixedClock(datetime(2022, 9, 16, 6, 0, tzinfo=STOCKHOLM))

DUE = {
    "before": datetime(2022, 9, 16, tzinfo=STOCKHOLM),  # P14D before 30 September
    "overdue": datetime(2022, 10, 8, tzinfo=STOCKHOLM),  # the second overdue reminder
    "escalation": datetime(2022, 10, 15, tzinfo=STOCKHOLM),  # P14D after the deadline (1 October 00:00)
    "digest": datetime(2022, 10, 3, 7, 0, tzinfo=STOCKHOLM),
}


def make_message(kind: Any = "before", **changes: Any) -> Message:
    due = changes.pop("due_at", DUE[kind])
    message = Message(
        outbox_id=42,
        kind=kind,
        recommendation=KEY,
        recommendation_title=TITLE,
        party="2380",
        party_name="Östersunds kommun",
        due_at=due,
        reply_by=date(2022, 9, 30),
        recipient=Recipient(contact_id="contact-17", name=CLERK, email=EMAIL),
        dedupe_key=f"{KEY}|2380|{kind}|{due.isoformat()}",
    )
    return replace(message, **changes)


DIGEST_ITEMS = [
    {
        "recommendation": KEY,
        "party": "2380",
        "party_name": "Östersunds kommun",
        "reply_by": date(2022, 9, 30),
        "state": "preparing",
        "overdue": True,
    },
    {
        "recommendation": KEY,
        "party": "2309",
        "party_name": "Krokoms kommun",
        "reply_by": "2022-09-30",
        "state": "proposed",
        "overdue": True,
    },
    {
        "recommendation": "svom-2025-mini-maria",
        "recommendation_title": "Mini-Maria: reviderat samverkansavtal",
        "party": "2321",
        "party_name": "Åre kommun",
        "reply_by": "2025-06-30",
        "state": "pending",
        "overdue": False,
    },
]


def digest_message(items: list[dict[str, Any]] = DIGEST_ITEMS) -> Message:
    return make_message(
        "digest",
        party=None,
        party_name=None,
        reply_by=None,
        recipient=Recipient(contact_id="contact-1", name="Ulla Samordnare", email="ulla@regionjh.example"),
        dedupe_key="digest|contact-1|2022-10-03",
        details={"items": items},
    )


# -- text


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2022, 1, 1), "1 januari 2022"),
        (date(2022, 2, 28), "28 februari 2022"),
        (date(2022, 3, 27), "27 mars 2022"),
        (date(2022, 4, 15), "15 april 2022"),
        (date(2022, 5, 1), "1 maj 2022"),
        (date(2022, 6, 24), "24 juni 2022"),
        (date(2022, 7, 4), "4 juli 2022"),
        (date(2022, 8, 31), "31 augusti 2022"),
        (date(2022, 9, 30), "30 september 2022"),
        (date(2022, 10, 30), "30 oktober 2022"),
        (date(2022, 11, 5), "5 november 2022"),
        (date(2022, 12, 24), "24 december 2022"),
    ],
)
def test_swedish_dates_without_the_locale(day: date, expected: str) -> None:
    assert expected == format_date_sv(day)


@pytest.mark.parametrize("kind", ["before", "overdue", "escalation"])
def test_each_kind_names_recommendation_party_and_date(kind: str) -> None:
    text = render_text(make_message(kind))
    for needle in (KEY, TITLE, "Östersunds kommun", "2380", "30 september 2022"):
        assert needle in text.body, (kind, needle)
    assert TITLE in text.subject
    assert "Östersunds kommun" in text.subject
    assert text.body.startswith(f"Hej {CLERK},\n")
    assert "Vänliga hälsningar" in text.body
    assert text.body.endswith("\n")
    assert "\n\n\n" not in text.body


def test_before_asks_for_the_minute_extract_by_the_date() -> None:
    text = render_text(make_message("before"))
    assert "senast 30 september 2022" in text.subject
    assert "Skicka kommunens beslut (protokollsutdrag) till samordnande part senast 30 september 2022." in text.body
    assert "Svarsdatum: 30 september 2022 (om 14 dagar)" in text.body


def test_the_region_is_asked_for_the_regions_decision_and_the_coordinator_is_named() -> None:
    message = make_message(
        "before", party="region-jh", party_name="Region Jämtland Härjedalen", details={"coordinator_name": "SVOM"}
    )
    body = render_text(message).body
    assert "Skicka regionens beslut (protokollsutdrag) till samordnande part, SVOM, senast 30 september 2022." in body
    assert "Region Jämtland Härjedalen (region-jh)" in body
    other = render_text(make_message("before", party="kfv", party_name="Kommunalförbundet")).body
    assert "Skicka kommunens beslut" in other  # "kommun" in the name
    assert "Skicka partens beslut" in render_text(make_message("before", party="x", party_name="Stiftelsen X")).body


def test_overdue_says_the_reply_date_has_passed() -> None:
    text = render_text(make_message("overdue"))
    assert text.subject.startswith("Svarsdatum har passerat:")
    assert "Svarsdatum 30 september 2022 har passerat" in text.body
    assert "Svarsdatum: 30 september 2022 (passerat för 7 dagar sedan)" in text.body
    assert "så snart som möjligt" in text.body


def test_escalation_says_which_party_is_how_many_days_late() -> None:
    text = render_text(make_message("escalation"))
    assert "Östersunds kommun (2380) har ännu inte skickat sitt beslut" in text.body
    assert "14 dagar försenat" in text.subject
    assert "Försenat: 14 dagar" in text.body
    # The same instant given in UTC (22:00 the evening before) is the same Swedish day.
    utc = render_text(make_message("escalation", due_at=datetime(2022, 10, 14, 22, 0, tzinfo=UTC)))
    assert "Försenat: 14 dagar" in utc.body
    one = render_text(make_message("escalation", details={"days_late": 1}))
    assert "Försenat: 1 dag\n" in one.body


def test_digest_lists_each_party_under_its_recommendation() -> None:
    text = render_text(digest_message())
    assert text.subject == "Sammanställning den 3 oktober 2022: 3 beslut inväntas, varav 2 försenade"
    body = text.body
    assert (
        f"{TITLE} ({KEY})\n- Östersunds kommun (2380): svarsdatum 30 september 2022, under beredning {DASH} försenat\n"
        in body
    )
    assert f"- Krokoms kommun (2309): svarsdatum 30 september 2022, förslag till beslut finns {DASH} försenat\n" in body
    assert (
        "Mini-Maria: reviderat samverkansavtal (svom-2025-mini-maria)\n- Åre kommun (2321): svarsdatum 30 juni 2025, inte påbörjat\n"
        in body
    )
    assert body.startswith("Hej Ulla Samordnare,\n")


def test_an_empty_digest_says_so() -> None:
    text = render_text(digest_message([]))
    assert text.subject == "Sammanställning den 3 oktober 2022: 0 beslut inväntas"
    assert "just nu inväntas inga beslut" in text.body


# -- log


def test_log_notifier_writes_one_line_of_ids_and_no_personal_data() -> None:
    notifier = LogNotifier()
    assert notifier.name == "log"
    with structlog.testing.capture_logs() as logs:
        notifier.send(make_message("overdue"))
    assert len(logs) == 1
    entry = logs[0]
    assert entry["event"] == "reminder"
    assert entry["log_level"] == "info"
    assert {k: entry[k] for k in ("outbox_id", "kind", "recommendation", "party", "contact_id")} == {
        "outbox_id": 42,
        "kind": "overdue",
        "recommendation": KEY,
        "party": "2380",
        "contact_id": "contact-17",
    }
    assert entry["due_at"] == "2022-10-08T00:00:00+02:00"
    assert entry["dedupe_key"] == make_message("overdue").dedupe_key
    flat = repr(logs)
    assert EMAIL not in flat
    assert CLERK not in flat
    assert "@" not in flat


# -- SMTP


def smtp_notifier(port: int, **options: Any) -> SmtpNotifier:
    return SmtpNotifier(host="127.0.0.1", port=port, sender=SENDER, timeout=5, clock=CLOCK, **options)


def test_smtp_delivers_swedish_text_with_utf8_headers() -> None:
    message = make_message("before")
    with smtp_server() as sink:
        smtp_notifier(sink.port).send(message)
    assert len(sink.received) == 1
    got = sink.received[0]
    assert got.mail_from == "noreply@regionjh.example"
    assert got.rcpt_tos == [EMAIL]
    email = got.email
    text = render_text(message)
    assert str(email["From"]) == SENDER
    assert str(email["To"]) == f"{CLERK} <{EMAIL}>"
    assert str(email["Subject"]) == text.subject
    assert email.get_content().replace("\r\n", "\n") == text.body
    assert "30 september 2022" in email.get_content()
    assert email.get_content_charset() == "utf-8"
    assert email["X-Beslut-Dedupe-Key"].strip() == message.dedupe_key  # folded after the colon: a long token
    assert email["X-Beslut-Kind"] == "before"
    assert email["Auto-Submitted"] == "auto-generated"
    assert email["Message-ID"] == message_id_for(message.dedupe_key, "regionjh.example")
    assert got.raw.isascii()  # Swedish letters travel as encoded words and quoted-printable
    assert b"=?utf-8?" in got.raw.split(b"\r\n\r\n")[0]


def test_smtp_message_id_is_stable_for_a_dedupe_key() -> None:
    first, again = make_message("before"), make_message("before", outbox_id=43)
    other = make_message("overdue")
    with smtp_server() as sink:
        notifier = smtp_notifier(sink.port, message_id_domain="beslut.example")
        for message in (first, again, other):
            notifier.send(message)
    ids = [received.email["Message-ID"] for received in sink.received]
    assert ids[0] == ids[1] != ids[2]
    assert re.fullmatch(r"<beslut\.[0-9a-f]{40}@beslut\.example>", ids[0])


def test_smtp_recipient_without_email_is_refused_before_connecting() -> None:
    message = make_message("before", recipient=Recipient(contact_id="contact-9", name="Utan Adress"))
    with smtp_server() as sink, pytest.raises(DeliveryError, match="contact 'contact-9' has no e-mail") as caught:
        smtp_notifier(sink.port).send(message)
    assert caught.value.permanent
    assert sink.received == []


@pytest.mark.parametrize(
    ("name", "email"),
    [
        (None, "not an address"),
        (None, "a@b.example\r\nBcc: eve@evil.example"),  # parseaddr would quietly keep a@b.example
        (None, "Bob <bob@b.example>"),  # the contact table holds bare addresses
        ("Eve\r\nBcc: eve@evil.example", "a@b.example"),
    ],
)
def test_smtp_refuses_a_bad_address_or_name_without_sending(name: str | None, email: str) -> None:
    message = make_message("before", recipient=Recipient(contact_id="contact-9", name=name, email=email))
    with smtp_server() as sink, pytest.raises(DeliveryError, match="invalid e-mail address or name") as caught:
        smtp_notifier(sink.port).send(message)
    assert caught.value.permanent
    assert sink.received == []


def test_the_subject_is_always_one_line() -> None:
    subject = render_text(make_message("before", recommendation_title="Två\r\nrader")).subject
    assert subject.startswith("Påminnelse: Två rader ")


def test_smtp_recipient_refused_by_the_server_is_a_permanent_delivery_error() -> None:
    refusing = SmtpSink(refuse_rcpt="550 5.1.1 no such user")
    with smtp_server(sink=refusing) as sink, pytest.raises(DeliveryError, match="refused with 550") as caught:
        smtp_notifier(sink.port).send(make_message("before"))
    assert caught.value.permanent
    assert EMAIL not in str(caught.value)  # the address is personal data; the outbox keeps the error text


def test_smtp_server_down_then_up_with_the_same_notifier() -> None:
    port = free_port()
    notifier = smtp_notifier(port)
    with pytest.raises(DeliveryError, match=f"smtp 127.0.0.1:{port}: ConnectionRefusedError") as caught:
        notifier.send(make_message("before"))
    assert isinstance(caught.value.__cause__, OSError)
    assert not caught.value.permanent
    with smtp_server(port) as sink:
        notifier.send(make_message("before"))
    assert len(sink.received) == 1


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return make_tls_files(tmp_path_factory.mktemp("tls"))


def secure_server(tls: Any, **options: Any) -> Any:
    return smtp_server(
        tls_context=tls.server_context(),
        require_starttls=True,
        authenticator=password_authenticator("beslut-mailer", "pass word 123"),
        auth_require_tls=True,
        auth_required=True,
        **options,
    )


def secure_config(port: int, ca_file: Path) -> dict[str, Any]:
    return {
        "notifier": {
            "kind": "smtp",
            "smtp": {
                "host": "127.0.0.1",
                "port": port,
                "sender": SENDER,
                "starttls": True,
                "ca_file": str(ca_file),
                "username_env": "BESLUT_SMTP_USER",
                "password_env": "BESLUT_SMTP_PASSWORD",
                "timeout": 5,
            },
        }
    }


def test_smtp_starttls_with_a_given_ca_and_auth_from_the_environment(tls: Any) -> None:
    env = {"BESLUT_SMTP_USER": "beslut-mailer", "BESLUT_SMTP_PASSWORD": "pass word 123"}
    with secure_server(tls) as sink:
        notifier = load_notifier(secure_config(sink.port, tls.ca_file), environ=env)
        assert isinstance(notifier, SmtpNotifier)
        assert "pass word" not in repr(notifier)
        notifier.send(make_message("escalation"))
    assert len(sink.received) == 1
    got = sink.received[0]
    assert got.tls
    assert got.login == b"beslut-mailer"
    assert "Försenat beslut: Östersunds kommun" in str(got.email["Subject"])


def test_smtp_starttls_refuses_a_certificate_it_was_not_told_to_trust(tls: Any) -> None:
    with secure_server(tls) as sink:
        notifier = smtp_notifier(sink.port, starttls=True, username="beslut-mailer", password="pass word 123")
        with pytest.raises(DeliveryError, match="CERTIFICATE_VERIFY_FAILED"):
            notifier.send(make_message("before"))
    assert sink.received == []


def test_smtp_wrong_password_is_a_delivery_error(tls: Any) -> None:
    env = {"BESLUT_SMTP_USER": "beslut-mailer", "BESLUT_SMTP_PASSWORD": "wrong"}
    with secure_server(tls) as sink:
        notifier = load_notifier(secure_config(sink.port, tls.ca_file), environ=env)
        with pytest.raises(DeliveryError, match="SMTPAuthenticationError: 535") as caught:
            notifier.send(make_message("before"))
    assert "wrong" not in str(caught.value)
    assert sink.received == []


def test_smtp_never_falls_back_to_clear_text(tls: Any) -> None:
    with smtp_server() as sink:  # no STARTTLS offered
        notifier = smtp_notifier(sink.port, starttls=True, ca_file=str(tls.ca_file))
        with pytest.raises(DeliveryError, match="STARTTLS"):
            notifier.send(make_message("before"))
    assert sink.received == []
    # The server insists on STARTTLS; the notifier was not told to use it.
    with secure_server(tls) as sink, pytest.raises(DeliveryError, match="530"):
        smtp_notifier(sink.port).send(make_message("before"))
    assert sink.received == []


def test_smtp_credentials_need_starttls() -> None:
    with pytest.raises(InvalidInput, match="starttls"):
        SmtpNotifier(host="127.0.0.1", sender=SENDER, username="u", password="p")


def test_delivery_error_keeps_its_permanence_through_pickle() -> None:
    error = pickle.loads(pickle.dumps(DeliveryError("gone", permanent=True)))
    assert (str(error), error.permanent) == ("gone", True)


# -- webhook


def webhook(url: str, **options: Any) -> WebhookNotifier:
    return WebhookNotifier(url=url, secret=SECRET, timeout=options.pop("timeout", 5), clock=CLOCK, **options)


def test_webhook_posts_signed_json_without_an_email_address() -> None:
    message = make_message("overdue", details={"days_late": 7, "since": date(2022, 10, 1)})
    with webhook_server() as receiver:
        webhook(receiver.url).send(message)
    assert len(receiver.requests) == 1
    request = receiver.requests[0]
    assert request.method == "POST"
    assert request.path == "/hooks/beslut?token=very-secret-token"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["X-Beslut-Delivery"] == message.dedupe_key
    timestamp = request.headers["X-Beslut-Timestamp"]
    assert timestamp == str(int(CLOCK.now().timestamp()))
    assert json.loads(request.body) == {
        "kind": "overdue",
        "recommendation": KEY,
        "recommendation_title": TITLE,
        "party": "2380",
        "party_name": "Östersunds kommun",
        "due_at": "2022-10-08T00:00:00+02:00",
        "reply_by": "2022-09-30",
        "contact_id": "contact-17",
        "dedupe_key": message.dedupe_key,
        "details": {"days_late": 7, "since": "2022-10-01"},
    }
    assert request.body == encode_body(message)
    assert EMAIL.encode() not in request.body
    assert CLERK.encode() not in request.body

    header = request.headers["X-Beslut-Signature"]
    expected = hmac.new(SECRET.encode(), timestamp.encode() + b"." + request.body, hashlib.sha256).hexdigest()
    assert header == f"sha256={expected}"
    now = CLOCK.now().timestamp()
    assert verify_signature(SECRET, timestamp, request.body, header, now=now)
    assert verify_signature(SECRET.encode(), timestamp, request.body, header, now=now + 299)
    assert not verify_signature("another secret", timestamp, request.body, header, now=now)
    assert not verify_signature(SECRET, timestamp, request.body.replace(b"2380", b"2381"), header, now=now)
    assert not verify_signature(SECRET, str(int(timestamp) + 1), request.body, header, now=now)
    assert not verify_signature(SECRET, timestamp, request.body, header, now=now + 301)  # a replay, later
    assert verify_signature(SECRET, timestamp, request.body, header, max_age=None)
    assert not verify_signature(SECRET, timestamp, request.body, "sha1=" + expected, now=now)
    assert not verify_signature(SECRET, timestamp, request.body, "", now=now)


def test_webhook_signature_recipe() -> None:
    assert sign("k", "1664575200", b"{}") == "sha256=" + hmac.new(b"k", b"1664575200.{}", hashlib.sha256).hexdigest()
    assert verify_signature("k", "1664575200", b"{}", sign("k", "1664575200", b"{}"), now=1664575200)


def test_webhook_non_2xx_is_a_delivery_error_and_the_url_token_stays_out_of_it() -> None:
    with webhook_server() as receiver:
        notifier = webhook(receiver.url)
        receiver.status = 500
        with pytest.raises(DeliveryError, match="HTTP 500") as caught:
            notifier.send(make_message("before"))
        assert "very-secret-token" not in str(caught.value)
        assert "very-secret-token" not in repr(notifier)
        assert not caught.value.permanent
        receiver.status = 200
        notifier.send(make_message("before"))
    assert len(receiver.requests) == 2


def test_webhook_redirect_is_not_followed() -> None:
    with webhook_server() as receiver:
        receiver.status = 302
        receiver.location = f"http://127.0.0.1:{receiver.port}/elsewhere"
        with pytest.raises(DeliveryError, match="HTTP 302"):
            webhook(receiver.url).send(make_message("before"))
    assert [request.path for request in receiver.requests] == ["/hooks/beslut?token=very-secret-token"]


def test_webhook_server_down_then_up_with_the_same_notifier() -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/hook"
    notifier = webhook(url)
    with pytest.raises(DeliveryError, match="ConnectionRefusedError") as caught:
        notifier.send(make_message("before"))
    assert isinstance(caught.value.__cause__, OSError)
    with webhook_server(port) as receiver:
        notifier.send(make_message("before"))
    assert len(receiver.requests) == 1


def test_webhook_timeout_is_a_delivery_error() -> None:
    receiver = Receiver()
    receiver.hold = threading.Event()
    with webhook_server(receiver=receiver):
        started = time.monotonic()
        with pytest.raises(DeliveryError, match="timed out"):
            webhook(receiver.url, timeout=0.3).send(make_message("before"))
        assert time.monotonic() - started < 3


def test_webhook_https_trusts_the_given_ca_only(tls: Any) -> None:
    with webhook_server(tls=tls) as receiver:
        assert receiver.url.startswith("https://")
        with pytest.raises(DeliveryError, match="CERTIFICATE_VERIFY_FAILED"):
            webhook(receiver.url).send(make_message("before"))
        webhook(receiver.url, ca_file=str(tls.ca_file)).send(make_message("before"))
    assert len(receiver.requests) == 1


def test_webhook_dedupe_key_outside_ascii_is_percent_encoded_in_the_header() -> None:
    message = make_message("before", dedupe_key="rek-å|2380|before|2022-09-16")
    with webhook_server() as receiver:
        webhook(receiver.url).send(message)
    assert receiver.requests[0].headers["X-Beslut-Delivery"] == "rek-%C3%A5%7C2380%7Cbefore%7C2022-09-16"
    assert json.loads(receiver.requests[0].body)["dedupe_key"] == "rek-å|2380|before|2022-09-16"


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.se/x", "http://", "example.se/hook"])
def test_webhook_only_http_and_https(url: str) -> None:
    with pytest.raises(InvalidInput, match="http"):
        WebhookNotifier(url=url, secret=SECRET)


# -- config

ENV = {
    "BESLUT_SMTP_USER": "mailer",
    "BESLUT_SMTP_PASSWORD": "pw-that-must-not-leak",
    "BESLUT_WEBHOOK_SECRET": "hook-secret-that-must-not-leak",
}


def smtp_table(**changes: Any) -> dict[str, Any]:
    table: dict[str, Any] = {
        "host": "smtp.example.se",
        "port": 587,
        "sender": SENDER,
        "starttls": True,
        "username_env": "BESLUT_SMTP_USER",
        "password_env": "BESLUT_SMTP_PASSWORD",
    }
    table.update(changes)
    return {key: value for key, value in table.items() if value is not None}


def webhook_table(**changes: Any) -> dict[str, Any]:
    table: dict[str, Any] = {"url": "https://hooks.example.se/beslut", "secret_env": "BESLUT_WEBHOOK_SECRET"}
    table.update(changes)
    return {key: value for key, value in table.items() if value is not None}


def test_config_defaults_to_the_log_notifier() -> None:
    assert isinstance(load_notifier({}, environ={}), LogNotifier)
    assert isinstance(load_notifier({"notifier": {}}, environ={}), LogNotifier)
    assert isinstance(load_notifier({"notifier": {"kind": "log"}, "scheduler": {"tick": 5}}, environ={}), LogNotifier)


def test_config_builds_smtp_and_webhook() -> None:
    smtp = load_notifier({"notifier": {"kind": "smtp", "smtp": smtp_table(timeout=12.5)}}, environ=ENV)
    assert isinstance(smtp, SmtpNotifier)
    assert (smtp.host, smtp.port, smtp.starttls, smtp.timeout) == ("smtp.example.se", 587, True, 12.5)
    assert smtp.message_id_domain == "regionjh.example"
    hook = load_notifier({"notifier": {"kind": "webhook", "webhook": webhook_table()}}, environ=ENV)
    assert isinstance(hook, WebhookNotifier)
    assert hook.timeout == 10.0
    # The other kind's table may stay in the file; its environment variables are not needed.
    both = {"notifier": {"kind": "webhook", "webhook": webhook_table(), "smtp": smtp_table()}}
    assert isinstance(load_notifier(both, environ={"BESLUT_WEBHOOK_SECRET": "x"}), WebhookNotifier)


REFUSALS: list[tuple[str, dict[str, Any], str]] = [
    ("notifier not a table", {"notifier": "smtp"}, "notifier"),
    ("unknown notifier key", {"notifier": {"kind": "log", "level": "debug"}}, "notifier.level"),
    ("unknown kind", {"notifier": {"kind": "sms"}}, "notifier.kind"),
    ("kind not a string", {"notifier": {"kind": 1}}, "notifier.kind"),
    ("smtp table missing", {"notifier": {"kind": "smtp"}}, "notifier.smtp"),
    ("webhook table missing", {"notifier": {"kind": "webhook"}}, "notifier.webhook"),
    ("smtp not a table", {"notifier": {"kind": "smtp", "smtp": "x"}}, "notifier.smtp"),
    ("smtp unknown key", {"notifier": {"kind": "smtp", "smtp": smtp_table(tls=True)}}, "notifier.smtp.tls"),
    ("smtp host missing", {"notifier": {"kind": "smtp", "smtp": smtp_table(host=None)}}, "notifier.smtp.host"),
    ("smtp host empty", {"notifier": {"kind": "smtp", "smtp": smtp_table(host=" ")}}, "notifier.smtp.host"),
    ("smtp port text", {"notifier": {"kind": "smtp", "smtp": smtp_table(port="587")}}, "notifier.smtp.port"),
    ("smtp port zero", {"notifier": {"kind": "smtp", "smtp": smtp_table(port=0)}}, "notifier.smtp.port"),
    ("smtp port huge", {"notifier": {"kind": "smtp", "smtp": smtp_table(port=70000)}}, "notifier.smtp.port"),
    ("smtp port bool", {"notifier": {"kind": "smtp", "smtp": smtp_table(port=True)}}, "notifier.smtp.port"),
    ("smtp sender missing", {"notifier": {"kind": "smtp", "smtp": smtp_table(sender=None)}}, "notifier.smtp.sender"),
    ("smtp sender bad", {"notifier": {"kind": "smtp", "smtp": smtp_table(sender="kansliet")}}, "notifier.smtp.sender"),
    ("smtp reply_to bad", {"notifier": {"kind": "smtp", "smtp": smtp_table(reply_to="a@b@c")}}, "notifier.smtp.reply_to"),
    ("smtp starttls text", {"notifier": {"kind": "smtp", "smtp": smtp_table(starttls="yes")}}, "notifier.smtp.starttls"),
    ("smtp timeout zero", {"notifier": {"kind": "smtp", "smtp": smtp_table(timeout=0)}}, "notifier.smtp.timeout"),
    ("smtp timeout text", {"notifier": {"kind": "smtp", "smtp": smtp_table(timeout="30")}}, "notifier.smtp.timeout"),
    ("smtp ca_file missing", {"notifier": {"kind": "smtp", "smtp": smtp_table(ca_file="/nonexistent/ca.pem")}}, "notifier.smtp.ca_file"),
    ("smtp password alone", {"notifier": {"kind": "smtp", "smtp": smtp_table(username_env=None)}}, "notifier.smtp.username_env"),
    ("smtp user alone", {"notifier": {"kind": "smtp", "smtp": smtp_table(password_env=None)}}, "notifier.smtp.password_env"),
    ("smtp auth in clear", {"notifier": {"kind": "smtp", "smtp": smtp_table(starttls=False)}}, "notifier.smtp.starttls"),
    ("smtp password in file", {"notifier": {"kind": "smtp", "smtp": smtp_table(password="hunter2")}}, "notifier.smtp.password"),
    ("smtp env name is a secret", {"notifier": {"kind": "smtp", "smtp": smtp_table(password_env="hunter2!")}}, "notifier.smtp.password_env"),
    ("smtp env name not text", {"notifier": {"kind": "smtp", "smtp": smtp_table(username_env=5)}}, "notifier.smtp.username_env"),
    ("smtp domain bad", {"notifier": {"kind": "smtp", "smtp": smtp_table(message_id_domain="localhost")}}, "notifier.smtp.message_id_domain"),
    ("smtp header injection", {"notifier": {"kind": "smtp", "smtp": smtp_table(host="a\nb")}}, "notifier.smtp.host"),
    ("smtp sender injection", {"notifier": {"kind": "smtp", "smtp": smtp_table(sender="a@b.se\r\nBcc: c@d.se")}}, "notifier.smtp.sender"),
    ("bad smtp table while log", {"notifier": {"kind": "log", "smtp": smtp_table(port=-1)}}, "notifier.smtp.port"),
    ("webhook unknown key", {"notifier": {"kind": "webhook", "webhook": webhook_table(method="PUT")}}, "notifier.webhook.method"),
    ("webhook url missing", {"notifier": {"kind": "webhook", "webhook": webhook_table(url=None)}}, "notifier.webhook.url"),
    ("webhook url ftp", {"notifier": {"kind": "webhook", "webhook": webhook_table(url="ftp://x.se/h")}}, "notifier.webhook.url"),
    ("webhook url file", {"notifier": {"kind": "webhook", "webhook": webhook_table(url="file:///etc/passwd")}}, "notifier.webhook.url"),
    ("webhook url port", {"notifier": {"kind": "webhook", "webhook": webhook_table(url="http://x.se:99999/")}}, "notifier.webhook.url"),
    ("webhook secret_env missing", {"notifier": {"kind": "webhook", "webhook": webhook_table(secret_env=None)}}, "notifier.webhook.secret_env"),
    ("webhook secret in file", {"notifier": {"kind": "webhook", "webhook": webhook_table(secret="hunter2")}}, "notifier.webhook.secret"),
    ("webhook timeout huge", {"notifier": {"kind": "webhook", "webhook": webhook_table(timeout=601)}}, "notifier.webhook.timeout"),
    ("webhook proxy bad", {"notifier": {"kind": "webhook", "webhook": webhook_table(proxy="socks5://p:1080")}}, "notifier.webhook.proxy"),
]  # fmt: skip


@pytest.mark.parametrize(("config", "field"), [(c, f) for _, c, f in REFUSALS], ids=[r[0] for r in REFUSALS])
def test_config_refusals_name_their_field(config: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_notifier(config, environ=ENV)
    assert caught.value.field == field
    assert isinstance(caught.value, InvalidInput)
    assert str(caught.value).startswith(f"config field {field!r}: ")
    for secret in (*ENV.values(), "hunter2", "very-secret"):
        assert secret not in str(caught.value)


def test_config_port_message() -> None:
    with pytest.raises(InvalidInput) as caught:
        load_notifier({"notifier": {"kind": "smtp", "smtp": smtp_table(port=0)}}, environ=ENV)
    assert str(caught.value) == "config field 'notifier.smtp.port': must be an integer 1-65535"


@pytest.mark.parametrize(
    ("kind", "table", "missing", "field"),
    [
        ("smtp", smtp_table(), "BESLUT_SMTP_USER", "notifier.smtp.username_env"),
        ("smtp", smtp_table(), "BESLUT_SMTP_PASSWORD", "notifier.smtp.password_env"),
        ("webhook", webhook_table(), "BESLUT_WEBHOOK_SECRET", "notifier.webhook.secret_env"),
    ],
)
def test_config_missing_credential_variable_fails_at_load(
    kind: str, table: dict[str, Any], missing: str, field: str
) -> None:
    env = {name: value for name, value in ENV.items() if name != missing}
    with pytest.raises(ConfigError, match=f"environment variable '{missing}' is not set") as caught:
        load_notifier({"notifier": {"kind": kind, kind: table}}, environ=env)
    assert caught.value.field == field
    with pytest.raises(ConfigError):
        load_notifier({"notifier": {"kind": kind, kind: table}}, environ={**env, missing: ""})


def test_config_refuses_non_ascii_smtp_credentials() -> None:
    env = {**ENV, "BESLUT_SMTP_PASSWORD": "lösenord"}
    with pytest.raises(ConfigError, match="non-ASCII") as caught:
        load_notifier({"notifier": {"kind": "smtp", "smtp": smtp_table()}}, environ=env)
    assert caught.value.field == "notifier.smtp.password_env"
    assert "lösenord" not in str(caught.value)


def test_config_ca_file_that_is_not_a_certificate(tmp_path: Path) -> None:
    bad = tmp_path / "ca.pem"
    bad.write_text("not a certificate\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_notifier({"notifier": {"kind": "smtp", "smtp": smtp_table(ca_file=str(bad))}}, environ=ENV)
    assert caught.value.field == "notifier.smtp.ca_file"


def test_config_reads_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BESLUT_WEBHOOK_SECRET", "from-the-process")
    assert isinstance(load_notifier({"notifier": {"kind": "webhook", "webhook": webhook_table()}}), WebhookNotifier)
    monkeypatch.delenv("BESLUT_WEBHOOK_SECRET")
    with pytest.raises(ConfigError):
        load_notifier({"notifier": {"kind": "webhook", "webhook": webhook_table()}})


def test_read_config_file(tmp_path: Path) -> None:
    good = tmp_path / "beslut.toml"
    good.write_text('[notifier]\nkind = "log"\n', encoding="utf-8")
    assert read_config_file(good) == {"notifier": {"kind": "log"}}
    bad = tmp_path / "bad.toml"
    bad.write_text("[notifier\n", encoding="utf-8")
    with pytest.raises(InvalidInput, match="not valid TOML"):
        read_config_file(bad)
    with pytest.raises(InvalidInput, match="cannot be read"):
        read_config_file(tmp_path / "missing.toml")


def test_the_documented_configs_load(tmp_path: Path) -> None:
    """Every ```toml block in docs/notifiers.md is a config that loads (with its variables set)."""
    blocks = re.findall(r"```toml\n(.*?)```", DOCS.read_text(encoding="utf-8"), flags=re.DOTALL)
    assert len(blocks) >= 3
    env = {"BESLUT_SMTP_USER": "u", "BESLUT_SMTP_PASSWORD": "p", "BESLUT_WEBHOOK_SECRET": "s"}
    kinds = set()
    for block in blocks:
        path = tmp_path / "config.toml"
        path.write_text(block, encoding="utf-8")
        kinds.add(load_notifier(read_config_file(path), environ=env).name)
    assert kinds == {"log", "smtp", "webhook"}


def test_documented_python_verifier_matches() -> None:
    """The receiver recipe in docs/notifiers.md, run as written, accepts what the notifier signs."""
    text = DOCS.read_text(encoding="utf-8")
    recipe = re.search(r"```python\n(.*?)```", text, flags=re.DOTALL)
    assert recipe is not None
    namespace: dict[str, Any] = {}
    exec(recipe.group(1), namespace)  # our own documentation
    body = encode_body(make_message("before"))
    timestamp = str(int(time.time()))
    assert namespace["verify"](SECRET.encode(), timestamp, body, sign(SECRET, timestamp, body))
    assert not namespace["verify"](SECRET.encode(), timestamp, body + b" ", sign(SECRET, timestamp, body))
