"""eark-validator, run offline on an exported package, and the conflicts docs/auditor.md lists.

eark-validator downloads four CSIP vocabularies from the DILCIS site when it is imported; the
same files are in its own wheel (``eark_validator/ipxml/resources/vocabs``). :func:`eark_messages`
serves those, and refuses any other URL, so the check runs without a network and never reaches one.
"""

from __future__ import annotations

import email.message
import gc
import io
import re
import urllib.error
import urllib.request
import urllib.response
import warnings
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
VOCABULARIES = "https://earkcsip.dilcis.eu/schema/"
Message = tuple[str, str]  # (rule id, severity)


class WheelVocabularies(urllib.request.BaseHandler):
    """Answer the validator's vocabulary downloads from its wheel; refuse every other URL."""

    handler_order = 100  # before urllib's own HTTP(S) handlers

    def https_open(self, request: urllib.request.Request) -> Any:
        url = request.full_url
        if not url.startswith(VOCABULARIES):
            raise urllib.error.URLError(f"offline: eark-validator asked for {url}")
        name = url.removeprefix(VOCABULARIES)
        data = resources.files("eark_validator.ipxml.resources.vocabs").joinpath(name).read_bytes()
        response = urllib.response.addinfourl(io.BytesIO(data), email.message.Message(), url, 200)
        response.msg = "OK"  # type: ignore[attr-defined]  # urllib's response processor reads it
        return response

    http_open = https_open


@dataclass(frozen=True)
class EarkReport:
    schema_valid: bool
    messages: list[Message]


def eark_messages(package: Path) -> EarkReport:
    """Every message eark-validator gives *package* (structure and Schematron), as (rule id, severity)."""
    urllib.request.install_opener(urllib.request.build_opener(WheelVocabularies))
    try:
        from eark_validator.packages import PackageValidator  # noqa: PLC0415  (imported here: it downloads at import)

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)  # the validator leaves METS.xml open; not ours to fix
            report = PackageValidator(package).validation_report
            gc.collect()
    finally:
        urllib.request.install_opener(None)  # None restores urllib's default opener
    messages = [(m.rule_id, m.severity.value) for m in report.structure.messages]
    messages += [(m.rule_id, m.severity.value) for m in report.metadata.schematron_results.messages]
    return EarkReport(schema_valid=report.metadata.schema_results.status.value == "VALID", messages=messages)


def documented_eark_messages() -> set[Message]:
    """The (rule, severity) rows of docs/auditor.md's table of eark-validator's messages."""
    text = (REPO / "docs" / "auditor.md").read_text(encoding="utf-8")
    return set(re.findall(r"^\| `((?:CSIP|SIP)(?:STR)?\d+)` \| (Error|Warn|Info) \|", text, flags=re.MULTILINE))
