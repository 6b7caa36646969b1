"""The dashboard's test data: the Mini-Maria demo plus one recommendation still open, with a late party.

The demo's two recommendations are both closed (the 2022 one superseded, the 2025
revision in force), so the matrix of *open* recommendations would be empty; an
evaluation round recommended in January 2026 gives it a column. Its reply date is
Friday 2026-01-30: on 2026-02-02 (the clock of the tests) Ragunda (2303) has not
decided and is overdue, Östersund (2380) has decided, Krokom (2309) is preparing,
and the Region has its own, later reply date (2026-03-31), so it is pending but
not late.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

from beslut.clock import STOCKHOLM, FixedClock
from beslut.demo import play
from beslut.persistence import Store
from beslut.workflow import Engine

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
KEY_2022 = "svom-2022-mini-maria"
KEY_2025 = "svom-2025-mini-maria-revision"
OPEN_KEY = "svom-2026-mini-maria-utvardering"
OPEN_TITLE = "Mini-Maria Jämtland: utvärdering och fortsatt finansiering"
TODAY = datetime(2026, 2, 2, 12, 0, tzinfo=STOCKHOLM)
BEFORE_REPLY = datetime(2026, 1, 29, 12, 0, tzinfo=STOCKHOLM)
MUNICIPALITIES = ["2380", "2309", "2321", "2313", "2361", "2326", "2305", "2303"]
PARTIES = [*MUNICIPALITIES, "region-jh"]


def open_spec(key: str = OPEN_KEY, title: str = OPEN_TITLE) -> str:
    """A spec like the 2022 one, replying by 2026-01-30; the Region may reply by 2026-03-31."""
    text = (EXAMPLES / "mini-maria-2022.toml").read_text(encoding="utf-8")
    text = text.replace('key = "svom-2022-mini-maria"', f'key = "{key}"')
    text = text.replace('title = "Mini-Maria Jämtland: inriktningsbeslut och finansiering"', f"title = {title!r}")
    text = text.replace("reply_by = 2022-09-30", "reply_by = 2026-01-30")
    text = text.replace("in_force_on = 2023-01-01", "in_force_on = 2026-07-01")
    text = text.replace('deciding_body = "RS"', 'deciding_body = "RS"\nreply_by = 2026-03-31')
    assert f'key = "{key}"' in text
    assert "reply_by = 2026-03-31" in text
    return text


def add_open_recommendation(engine: Engine, key: str = OPEN_KEY, title: str = OPEN_TITLE) -> None:
    """Propose and recommend the open round and record the steps described above."""
    engine.propose(open_spec(key, title), on=date(2026, 1, 12))
    engine.recommend(key, on=date(2026, 1, 12))
    engine.decide(key, "2380", outcome="approved", paragraph="§ 12", on=date(2026, 1, 20))
    engine.announce(key, "2380", on=date(2026, 1, 22))
    engine.prepare(key, "2309", case_number="KS 2026/31", on=date(2026, 1, 14))
    engine.decide(key, "2321", outcome="rejected", paragraph="§ 9", on=date(2026, 1, 27))


def load(store: Store) -> None:
    """Play the Mini-Maria demo and add the open round, on an initialised *store*."""
    engine = Engine(store, clock=FixedClock(TODAY), actor="demo")
    play(engine)
    add_open_recommendation(engine)


def load_file(path: Path) -> None:
    """Create an SQLite database at *path* holding the demo and the open round."""
    engine = Engine.open(path, clock=FixedClock(TODAY), actor="demo")
    try:
        engine.init()
        play(engine)
        add_open_recommendation(engine)
    finally:
        engine.close()
