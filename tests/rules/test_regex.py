"""The portable regex subset: what it refuses and why, and that Python and the database
(PostgreSQL's ~, SQLite's REGEXP through Python) agree on every pattern it accepts."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import literal, select

from leadflow.rules.regex import RegexSyntaxError, compile_regex
from leadflow.rules.sqlfuncs import AsciiLower, RegexSearch
from leadflow.rules.vocabulary import fold
from leadflow.storage.database import Database
from tests.rules.strategies import PROFILE


@pytest.mark.parametrize(
    ("pattern", "python", "postgres"),
    [
        ("^VP", "(?s)^vp", "^vp"),
        ("sales$", "(?s)sales\\Z", "sales$"),
        ("(vp|head) of", "(?s)(?:vp|head) of", "(?:vp|head) of"),
        ("[A-C]x", "(?s)[a-c]x", "[a-c]x"),
        ("\\d{2,3}", "(?s)[0-9]{2,3}", "[0-9]{2,3}"),
        ("\\W", "(?s)[^a-z0-9\\_]", "[^a-z0-9\\_]"),
        ("a.b", "(?s)a.b", "a.b"),
        ("a-b_c", "(?s)a\\-b\\_c", "a\\-b\\_c"),
        ("Éa", "(?s)Éa", "Éa"),
    ],
)
def test_patterns_are_rendered_for_each_engine(pattern, python, postgres):
    regex = compile_regex(pattern)

    assert (regex.python, regex.postgres) == (python, postgres)


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        ("\\bvp", "word boundaries"),
        ("(?i)vp", "only (...) and (?:...) groups"),
        ("(?=a)", "only (...) and (?:...) groups"),
        ("a+?", "a quantifier cannot follow another"),
        ("a**", "a quantifier cannot follow another"),
        ("*a", "nothing to repeat"),
        ("^*", "nothing to repeat"),
        ("a||b", "empty alternative"),
        ("()", "empty alternative"),
        ("(a", "missing ')'"),
        ("a)", "unbalanced ')'"),
        ("[abc", "missing ']'"),
        ("[]", "empty character class"),
        ("[[:alpha:]]", "write \\[ for a literal '['"),
        ("[a-]", "write \\- for a literal '-'"),
        ("[a-Z]", "must lie within a-z, A-Z or 0-9"),
        ("[z-a]", "wrong order"),
        ("[\\D]", "not supported inside [...]"),
        ("\\1", "escape \\1 is not supported"),
        ("\\x41", "escape \\x is not supported"),
        ("a{300}", "above 255"),
        ("a{3,1}", "wrong order"),
        ("a{,3}", "write {n}, {n,} or {n,m}"),
        ("{", "write \\{ for a literal '{'"),
        ("a}", "write \\} for a literal '}'"),
        ("\\", "ends with a lone \\"),
        ("a\x01", "unprintable"),
        ("", "empty"),
        ("a" * 501, "longer than 500"),
    ],
)
def test_patterns_outside_the_subset_are_refused_with_a_reason(pattern, reason):
    with pytest.raises(RegexSyntaxError, match=re.escape(reason)):
        compile_regex(pattern)


# ---- agreement on random patterns --------------------------------------------------------

_LITERALS = st.sampled_from(list("abAB0 é-_É"))
_CLASS_ITEMS = st.sampled_from(
    ["a", "B", "0", "a-c", "A-C", "0-9", "\\-", "\\.", "é", "\\d", "\\w", "\\s", " ", "\\n"]
)
_classes = st.builds(
    lambda neg, items: "[" + ("^" if neg else "") + "".join(items) + "]",
    st.booleans(),
    st.lists(_CLASS_ITEMS, min_size=1, max_size=3),
)
_QUANTIFIERS = st.sampled_from(["", "", "*", "+", "?", "{2}", "{1,2}", "{0,}"])
_ESCAPES = st.sampled_from(["\\.", "\\d", "\\D", "\\w", "\\W", "\\s", "\\S", "\\n", "\\-"])


def _items(alternation: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    atoms = st.one_of(
        _LITERALS, _classes, _ESCAPES, st.just("."), alternation.map(lambda body: f"({body})")
    )
    return st.builds(lambda atom, q: atom + q, atoms, _QUANTIFIERS)


patterns = st.recursive(
    st.lists(st.builds(lambda a, q: a + q, _LITERALS, _QUANTIFIERS), min_size=1, max_size=3).map(
        "".join
    ),
    lambda inner: st.lists(
        st.lists(_items(inner), min_size=1, max_size=3).map("".join), min_size=1, max_size=2
    ).map("|".join),
    max_leaves=6,
).flatmap(
    lambda body: st.builds(
        lambda start, end: ("^" if start else "") + body + ("$" if end else ""),
        st.booleans(),
        st.booleans(),
    )
)
subjects = st.text(alphabet="aAbBc0 9é\nÉ-_.x", max_size=6)


@PROFILE
@given(pattern=patterns, values=st.lists(subjects, min_size=1, max_size=6))
def test_python_and_the_database_agree_on_random_patterns(db: Database, pattern, values):
    regex = compile_regex(pattern)
    with db.read() as conn:
        in_sql = [
            conn.scalar(select(RegexSearch(AsciiLower(literal(value)), regex))) for value in values
        ]
    in_python = [re.search(regex.python, fold(value)) is not None for value in values]

    assert [bool(v) for v in in_sql] == in_python, (regex.python, regex.postgres)


def test_the_database_regex_is_case_insensitive_for_ascii_only(db: Database):
    # É is not folded; the ASCII letters after it are.
    regex = compile_regex("^École")
    values = ["école", "ÉCOLE", "École", "ÉcOlE"]
    with db.read() as conn:
        found = [
            bool(conn.scalar(select(RegexSearch(AsciiLower(literal(v)), regex)))) for v in values
        ]

    assert found == [False, True, True, True]
