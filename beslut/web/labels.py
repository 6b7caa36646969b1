"""Swedish words for the dashboard: states, outcomes, event kinds and deadline kinds.

The identifiers stay English in the data (they are a public contract); a coordinator
reads Swedish. An identifier without a label is shown as itself rather than hidden,
so a state added later is visible before anyone translates it.
"""

from __future__ import annotations

from typing import Final

PARTY_STATES: Final = {
    "pending": "Ej påbörjad",
    "preparing": "Under beredning",
    "proposed": "Förslag finns",
    "decided": "Beslutat",
    "announced": "Anslaget",
    "appealed": "Överklagat",
    "final": "Laga kraft",
}

RECOMMENDATION_STATES: Final = {
    "proposed": "Föreslagen",
    "recommended": "Rekommenderad",
    "consolidated": "Sammanställd",
    "in_force": "I kraft",
    "withdrawn": "Återkallad",
    "superseded": "Ersatt",
}

OUTCOMES: Final = {
    "approved": "Bifall",
    "rejected": "Avslag",
    "approved_with_conditions": "Bifall med villkor",
    "adopted": "Antagen",
    "partially_adopted": "Delvis antagen",
    "not_adopted": "Ej antagen",
}

EVENTS: Final = {
    "recommendation.proposed": "Föreslagen",
    "recommendation.recommended": "Rekommenderad till parterna",
    "recommendation.withdrawn": "Återkallad",
    "recommendation.consolidated": "Sammanställd",
    "recommendation.in_force": "Trädde i kraft",
    "recommendation.recounted": "Omräknad (ett räknat beslut ändrades)",
    "recommendation.superseded": "Ersatt",
    "party.prepared": "Ärende upprättat",
    "party.proposed": "Förslag till beslut",
    "party.decided": "Beslut",
    "party.announced": "Protokoll anslaget",
    "party.appealed": "Överklagat",
    "party.appeal_dismissed": "Överklagande avslaget",
    "party.decision_annulled": "Beslut upphävt",
    "party.final": "Laga kraft",
    "party.overdue": "Försenad",
    "party.minute_extract_received": "Protokollsutdrag mottaget",
}

DEADLINES: Final = {
    "reply_by": "Sista svarsdag",
    "appeal_ends": "Överklagandetiden löper ut",
    "in_force": "Träder i kraft",
    "remind_before": "Påminnelse före svarsdag",
    "remind_overdue": "Påminnelse, försenad",
    "escalate": "Eskalering till samordnare",
}

OVERDUE: Final = "Försenad"


def label(table: dict[str, str], key: str | None) -> str:
    """The Swedish word for *key* in *table*; the key itself if there is none, and "" for None."""
    if key is None:
        return ""
    return table.get(key, key)
