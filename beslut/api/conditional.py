"""``If-Match`` on a command: the version it names, compared strongly (RFC 9110 §13.1.1).

Why its own module: the comparison is a rule of HTTP, one place for every command. A version ETag
is strong (``"7"``: the status document at version 7, byte for byte). ``If-Match`` uses the strong
comparison, under which a weak tag (``W/"7"``) matches nothing; the answer is the one every
non-matching version gets here, 409 ``stale-version`` (docs/api.md says why not 412), and the
command never reaches the engine.
"""

from __future__ import annotations

from beslut.api.problems import INVALID, STALE, ApiProblem


def if_match_version(if_match: str) -> int:
    """The version an ``If-Match`` header value names (not ``*``, which the caller handles).

    Raises:
        ApiProblem: 409 stale-version for a weak tag, which never matches under the strong
            comparison; 422 when the value is not one version ETag such as ``"7"``.
    """
    tag = if_match.strip()
    if tag.startswith("W/"):
        raise ApiProblem(
            STALE, f"If-Match {tag[:40]!r} is a weak ETag: If-Match compares strongly (RFC 9110), so it never matches"
        )
    digits = tag.strip('"')  # a bare 7 is read as "7", as it always was
    if not digits.isdigit():
        raise ApiProblem(INVALID, f'If-Match: {if_match!r} is not a version ETag such as "7"')
    return int(digits)
