"""The dashboard's arithmetic, without HTML: the overdue boundary and the matrix's shape."""

from __future__ import annotations

from datetime import date

from beslut.web.pages import is_overdue, matrix
from beslut.workflow import Engine
from tests.conftest import KEY, PARTIES


class TestOverdue:
    def test_the_reply_date_itself_is_not_late_the_day_after_is(self, recommended: Engine) -> None:
        """A reply date is the end of that day: overdue from the next day (2022-09-30 is a Friday, no rolling)."""
        case = recommended.case(KEY)
        ragunda = case.party("2303")
        assert date(2022, 9, 30) == ragunda.deadline
        assert not is_overdue(case, ragunda, date(2022, 9, 30))
        assert is_overdue(case, ragunda, date(2022, 10, 1))

    def test_a_decided_party_or_a_closed_recommendation_is_never_late(self, recommended: Engine) -> None:
        """Deciding ends the lateness; a recommendation that is no longer out has no late parties."""
        recommended.decide(KEY, "2303", outcome="approved", paragraph="§ 1", on=date(2022, 9, 1))
        case = recommended.case(KEY)
        assert not is_overdue(case, case.party("2303"), date(2022, 11, 1))
        recommended.withdraw(KEY, on=date(2022, 9, 2), reason="test")
        withdrawn = recommended.case(KEY)
        assert not any(is_overdue(withdrawn, p, date(2022, 11, 1)) for p in withdrawn.parties)


class TestMatrix:
    def test_open_columns_by_default_all_on_request(self, recommended: Engine) -> None:
        """A withdrawn recommendation leaves the default matrix and stays in the full one."""
        assert [KEY] == [c.key for c in matrix(recommended.cases(), today=date(2022, 10, 3)).columns]
        late = matrix(recommended.cases(), today=date(2022, 10, 3))
        assert PARTIES == [r.key for r in late.rows]
        assert len(PARTIES) == late.overdue_count
        recommended.withdraw(KEY, on=date(2022, 9, 2), reason="test")
        assert () == matrix(recommended.cases(), today=date(2022, 10, 3)).columns
        closed = matrix(recommended.cases(), today=date(2022, 10, 3), include_closed=True)
        assert ["withdrawn"] == [c.state for c in closed.columns]
        assert 0 == closed.overdue_count
