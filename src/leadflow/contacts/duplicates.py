"""Likely duplicate contacts: the same person stored twice, found by name and company.

The engine (:func:`find_pairs`) is pure: it takes candidate records and returns scored pairs
with the reasons behind each score. :func:`find_duplicates` streams the records from storage.

No pass compares every contact with every other. Records are put in blocks, and only two
records that share a block are compared:

- company: a normalised company name or account domain ("ACME Inc." and acme.com both give
  ``acme``); fuzzy names are compared inside it (rapidfuzz, in C);
- name: the metaphone of the last name and the first initial, used only to pair a record
  that has a company with one that has none, when the name is rare;
- phone, and a distinctive email local part (``jsmith`` in ``jsmith@acme.com``): evidence
  that lets the same name in two different companies pair.

A block too large to carry a signal (a name thousands share, a switchboard phone) is
skipped or split, so the work grows with the number of records, not with its square.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from typing import Any, NamedTuple

import jellyfish
from rapidfuzz import fuzz, process
from sqlalchemy import Select, or_, select

from leadflow.contacts.models import accounts, contacts
from leadflow.storage.database import Database

DEFAULT_MIN_SCORE = 80
# Full names at least this alike (token order ignored) are scored in detail; when one side
# has no company the pair needs a name score of 95 to reach the default minimum of 80.
PREFILTER_CUTOFF = 70
ONE_SIDE_PREFILTER_CUTOFF = 85
FIRST_NAME_MIN = 80  # "Jon"/"John" is 86, "Joan"/"John" 75, "Jane"/"John" 50
LAST_NAME_MIN = 85
COMPANY_SIMILAR_MIN = 90
# A company block larger than this (a big account) is compared within sub-blocks only: the
# same sounding last name, or the same first name and last initial. A typo in one of the
# names still meets; typos in both do not.
COMPANY_BLOCK_SPLIT = 300
# Without a company on both sides, only a name this rare (or rarer) says who someone is:
# two "John Smith" records, one without a company, are not likely one person.
RARE_NAME_MAX = 3
# A name block larger than this is not compared at all (a guard against quadratic work).
NAME_BLOCK_MAX = 500
# A phone or email local part shared by more records is a switchboard or a role address,
# and is no evidence at all.
EVIDENCE_BLOCK_MAX = 20
# Pairs whose first names differ are only shown at or below this score.
DIFFERENT_FIRST_NAME_CAP = 70

_LEGAL_SUFFIXES = frozenset(
    {
        *("inc", "incorporated", "llc", "llp", "ltd", "limited", "corp", "corporation"),
        *("co", "company", "gmbh", "ag", "sa", "sas", "sarl", "bv", "nv", "plc", "pty"),
        *("srl", "spa", "oy", "ab", "as", "kk", "kg", "se"),
    }
)
# Company names (folded) that mean "no company".
_NO_COMPANY = frozenset(
    {
        *("n a", "na", "none", "no company", "not applicable", "unknown", "test"),
        *("self", "self employed", "freelance", "freelancer", "student", "retired"),
        *("unemployed", "private", "personal", "home"),
    }
)
_ROLE_LOCAL_PARTS = frozenset(
    {
        *("info", "sales", "admin", "contact", "hello", "support", "office", "marketing"),
        *("team", "mail", "billing", "help", "jobs", "careers", "noreply", "enquiries"),
        *("inquiries", "webmaster"),
    }
)
_SECOND_LEVEL = frozenset({"co", "com", "org", "net", "ac", "gov", "edu", "ltd", "plc"})
_NOT_LETTERS = re.compile(r"[^a-z0-9]+")
# john.smith, john_smith and johnsmith are one email name.
_LOCAL_SEPARATORS = str.maketrans("", "", "._-")


# Candidate and _Person are named tuples, not frozen dataclasses: both are built once per
# contact, and a frozen dataclass takes three times as long to build (0.5 s per 100,000).
class Candidate(NamedTuple):
    """What the engine needs to know about one contact."""

    id: int
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    phone: str | None = None
    company: str | None = None  # the contact's own company name
    account_name: str | None = None
    domain: str | None = None  # the account's domain
    account_id: int | None = None

    @property
    def name(self) -> str:
        return " ".join(p for p in (self.first_name, self.last_name) if p)


@dataclass(frozen=True, slots=True)
class DuplicatePair:
    """Two records that are likely the same person; ``a`` is the older (lower id)."""

    a: Candidate
    b: Candidate
    score: int
    reasons: tuple[str, ...]


class _Company(StrEnum):
    SAME_ACCOUNT = "same account"
    SAME_NAME = "same company name"
    SIMILAR = "similar company name"
    ONE_UNKNOWN = "company known on one side only"
    NONE = "no company on either side"
    DIFFERENT = "different companies"


# Score adjustment per company relation; the last two need phone or email evidence.
_COMPANY_ADJUST = {
    _Company.SAME_ACCOUNT: 0,
    _Company.SAME_NAME: 0,
    _Company.SIMILAR: -5,
    _Company.ONE_UNKNOWN: -15,
    _Company.NONE: -10,
    _Company.DIFFERENT: -15,
}


class _Person(NamedTuple):
    """A candidate with its values folded for comparison."""

    record: Candidate
    first: str
    last: str
    name_key: str  # the folded name's words, sorted
    companies: frozenset[str]
    email: str
    local: str
    phone: str


# -- the engine ------------------------------------------------------------------------------


def find_pairs(
    records: Iterable[Candidate], *, min_score: int = DEFAULT_MIN_SCORE
) -> list[DuplicatePair]:
    """Likely duplicate pairs among ``records``, best first."""
    people = _drop_common_evidence([p for p in map(_person, records) if p is not None])
    pairs = []
    for i, j in _candidate_pairs(people):
        pair = _score_pair(people[i], people[j])
        if pair is not None and pair.score >= min_score:
            pairs.append(pair)
    pairs.sort(key=lambda p: (-p.score, p.a.id, p.b.id))
    return pairs


def _candidate_pairs(people: list[_Person]) -> set[tuple[int, int]]:
    pairs: set[tuple[int, int]] = set()
    for members in _blocks(people, _company_tokens):
        if len(members) > COMPANY_BLOCK_SPLIT:
            for sub in _blocks(people, _split_keys, among=members):
                pairs.update(_similar_names(people, sub))
        else:
            pairs.update(_similar_names(people, members))
    name_counts = Counter(p.name_key for p in people)
    rare = [i for i, p in enumerate(people) if name_counts[p.name_key] <= RARE_NAME_MAX]
    for members in _blocks(people, _name_key, among=rare):
        if len(members) <= NAME_BLOCK_MAX:
            pairs.update(_one_side_without_company(people, members))
    for key in (_phone_key, _local_key):
        for members in _blocks(people, key):
            pairs.update(_ordered(m, n) for k, m in enumerate(members) for n in members[k + 1 :])
    return pairs


def _drop_common_evidence(people: list[_Person]) -> list[_Person]:
    """Forget phones and email names so many share that they say nothing (a switchboard)."""
    counts = Counter(k for p in people for k in (*_phone_key(p), *_local_key(p)))
    common = {k for k, n in counts.items() if n > EVIDENCE_BLOCK_MAX}
    if not common:
        return people
    return [
        p._replace(
            phone="" if f"p:{p.phone}" in common else p.phone,
            local="" if f"l:{p.local}" in common else p.local,
        )
        if f"p:{p.phone}" in common or f"l:{p.local}" in common
        else p
        for p in people
    ]


def _blocks(
    people: list[_Person],
    keys: Callable[[_Person], Iterable[str]],
    *,
    among: Iterable[int] | None = None,
) -> Iterator[list[int]]:
    """Indexes of the people (or of those ``among``) that share a key, for every key two or
    more share."""
    blocks: dict[str, list[int]] = defaultdict(list)
    for index in range(len(people)) if among is None else among:
        for key in keys(people[index]):
            blocks[key].append(index)
    return (members for members in blocks.values() if len(members) > 1)


def _similar_names(people: list[_Person], members: list[int]) -> Iterator[tuple[int, int]]:
    """Pairs of members with similar names. Members with the very same name pair with the
    first (oldest) of them only: a thousand "Test User" rows make 999 pairs, not 500,000."""
    groups: dict[str, list[int]] = defaultdict(list)
    for m in members:
        groups[people[m].name_key].append(m)
    heads = [group[0] for group in groups.values()]
    for group in groups.values():
        yield from (_ordered(group[0], m) for m in group[1:])
    names = list(groups)
    for k, name in enumerate(names[:-1]):
        for at in _alike(name, names[k + 1 :], cutoff=PREFILTER_CUTOFF):
            yield _ordered(heads[k], heads[k + 1 + at])


def _one_side_without_company(
    people: list[_Person], members: list[int]
) -> Iterator[tuple[int, int]]:
    known = [m for m in members if people[m].companies]
    unknown = [m for m in members if not people[m].companies]
    if not known or not unknown:
        return
    names = [people[m].name_key for m in known]
    for m in unknown:
        alike = _alike(people[m].name_key, names, cutoff=ONE_SIDE_PREFILTER_CUTOFF)
        yield from (_ordered(m, known[at]) for at in alike)


def _alike(name: str, names: list[str], *, cutoff: int) -> list[int]:
    """Indexes of the names at least ``cutoff`` alike (words already sorted, so plain ratio
    is token_sort_ratio without re-sorting every choice on every call)."""
    found = process.extract(
        name, names, scorer=fuzz.ratio, processor=None, score_cutoff=cutoff, limit=None
    )
    return [at for _, _, at in found]


def _ordered(i: int, j: int) -> tuple[int, int]:
    return (i, j) if i < j else (j, i)


# -- scoring a pair --------------------------------------------------------------------------


def _score_pair(x: _Person, y: _Person) -> DuplicatePair | None:
    """The pair's score and reasons, or None when nothing says they are one person."""
    first, last = _name_parts(x, y)
    if last < LAST_NAME_MIN:
        return None
    relation, company_similarity = _company_relation(x, y)
    evidence = _evidence(x, y)
    names_agree = first is None or first >= FIRST_NAME_MIN
    needs_evidence = not names_agree or relation in (_Company.NONE, _Company.DIFFERENT)
    if needs_evidence and not evidence:
        return None
    name_score = last - 10 if first is None else 0.4 * first + 0.6 * last
    score = name_score + _COMPANY_ADJUST[relation] + sum(bonus for bonus, _ in evidence)
    if not names_agree:
        score = min(score, DIFFERENT_FIRST_NAME_CAP)
    reasons = (
        _name_reason(x, y, first, last, name_score),
        _company_reason(relation, company_similarity),
        *(reason for _, reason in evidence),
    )
    a, b = sorted((x.record, y.record), key=lambda r: r.id)
    return DuplicatePair(a=a, b=b, score=max(0, min(100, round(score))), reasons=reasons)


def _name_parts(x: _Person, y: _Person) -> tuple[float | None, float]:
    """First- and last-name similarity, also trying the names swapped (entered backwards)."""
    straight = (_first_similarity(x.first, y.first), float(fuzz.ratio(x.last, y.last)))
    if not (x.first and y.first):
        return straight
    swapped = (_first_similarity(x.first, y.last), float(fuzz.ratio(x.last, y.first)))
    return max(straight, swapped, key=lambda s: (s[0] or 0) + s[1])


def _first_similarity(a: str, b: str) -> float | None:
    if not a or not b:
        return None
    if a == b:
        return 100.0
    # An initial or a short form ("J", "Chris" for "Christopher") is the same first name.
    if a.startswith(b) or b.startswith(a):
        return 90.0
    return float(fuzz.ratio(a, b))


def _name_reason(x: _Person, y: _Person, first: float | None, last: float, score: float) -> str:
    if first is None:
        similarity = "same last name" if last == 100 else f"last name similarity {round(last)}"
        return f"{similarity}, a first name is missing"
    if first < FIRST_NAME_MIN:
        return f"first names differ ({x.record.first_name} / {y.record.first_name})"
    return "same name" if score == 100 else f"name similarity {round(score)}"


def _company_relation(x: _Person, y: _Person) -> tuple[_Company, int]:
    ids = (x.record.account_id, y.record.account_id)
    if ids[0] is not None and ids[0] == ids[1]:
        return _Company.SAME_ACCOUNT, 100
    if not x.companies or not y.companies:
        return (_Company.NONE if x.companies == y.companies else _Company.ONE_UNKNOWN), 0
    if x.companies & y.companies:
        return _Company.SAME_NAME, 100
    best = max(fuzz.token_set_ratio(a, b) for a in x.companies for b in y.companies)
    if best >= COMPANY_SIMILAR_MIN:
        return _Company.SIMILAR, round(best)
    return _Company.DIFFERENT, round(best)


def _company_reason(relation: _Company, similarity: int) -> str:
    if relation is _Company.SIMILAR:
        return f"company name similarity {similarity}"
    return relation.value


def _evidence(x: _Person, y: _Person) -> list[tuple[int, str]]:
    found = []
    if x.phone and x.phone == y.phone:
        found.append((15, "same phone"))
    if x.email and x.email == y.email:
        found.append((20, "same email"))
    elif x.local and x.local == y.local:
        found.append((10, f"same email name {x.local}@"))
    return found


# -- folding values for comparison -----------------------------------------------------------


def _person(record: Candidate) -> _Person | None:
    first, last = _fold(record.first_name), _fold(record.last_name)
    if not last and " " in first:
        # "John Smith" typed into the first-name field.
        first, _, last = first.rpartition(" ")
    if not last:
        return None
    email = (record.email or "").strip().lower()
    return _Person(
        record=record,
        first=first,
        last=last,
        name_key=" ".join(sorted(f"{first} {last}".split())),
        companies=_company_keys(record.company, record.account_name, domain=record.domain),
        email=email,
        local=_local_part(email, first, last),
        phone=(record.phone or "").strip(),
    )


@lru_cache(maxsize=1 << 16)
def _fold(text: str | None) -> str:
    """Lower-case ASCII letters and digits with single spaces: "Müller-Lüdenscheidt" -> ..."""
    if not text:
        return ""
    decomposed = unicodedata.normalize("NFKD", text)
    ascii_text = decomposed.encode("ascii", "ignore").decode().lower()
    return _NOT_LETTERS.sub(" ", ascii_text).strip()


@lru_cache(maxsize=1 << 16)
def _company_keys(*names: str | None, domain: str | None = None) -> frozenset[str]:
    """Normalised company names, without legal forms ("ACME Inc." -> "acme")."""
    keys = {_company_key(n) for n in names if n}
    if domain:
        keys.add(_company_key(_domain_label(domain)))
    return frozenset(k for k in keys if k)


@lru_cache(maxsize=1 << 16)
def _company_key(name: str) -> str:
    words = _fold(name).split()
    if words[:1] == ["the"]:
        words = words[1:]
    while len(words) > 1 and words[-1] in _LEGAL_SUFFIXES:
        words.pop()
    key = " ".join(words)
    return "" if key in _NO_COMPANY else key


def _domain_label(domain: str) -> str:
    """The name part of a domain: acme.com -> acme, acme.co.uk -> acme."""
    labels = domain.lower().split(".")[:-1]
    if len(labels) > 1 and labels[-1] in _SECOND_LEVEL:
        labels.pop()
    return labels[-1] if labels else ""


def _local_part(email: str, first: str, last: str) -> str:
    """The email name when it says more than the person's name does: john.smith@ at two
    companies is two John Smiths, jsmith1987@ at two is likely one."""
    local = email.partition("@")[0].partition("+")[0].translate(_LOCAL_SEPARATORS)
    if len(local) < 4 or local in _ROLE_LOCAL_PARTS:
        return ""
    given, family = first.replace(" ", ""), last.replace(" ", "")
    made_of_names = {
        *(given, family, given + family, family + given),
        *(given[:1] + family, given + family[:1], family + given[:1]),
    }
    return "" if local in made_of_names else local


def _company_tokens(person: _Person) -> set[str]:
    if person.companies:
        return {"c:" + key for key in person.companies}
    # An account with neither name nor domain still groups its own contacts.
    return {f"a:{person.record.account_id}"} if person.record.account_id is not None else set()


def _name_key(person: _Person) -> tuple[str]:
    return (f"n:{_sound(person.last)}:{person.first[:1]}",)


@lru_cache(maxsize=1 << 16)
def _sound(last_name: str) -> str:
    """How a last name sounds (metaphone): Smith and Smyth alike."""
    return str(jellyfish.metaphone(last_name))


def _split_keys(person: _Person) -> tuple[str, str]:
    return f"s:{_sound(person.last)}", f"f:{person.first}:{person.last[:1]}"


def _phone_key(person: _Person) -> tuple[str, ...]:
    return ("p:" + person.phone,) if person.phone else ()


def _local_key(person: _Person) -> tuple[str, ...]:
    return ("l:" + person.local,) if person.local else ()


# -- storage ---------------------------------------------------------------------------------


def find_duplicates(
    db: Database, *, min_score: int = DEFAULT_MIN_SCORE, limit: int | None = None
) -> list[DuplicatePair]:
    """Likely duplicates among active contacts, best first; records stream in one query."""
    with db.read() as conn:
        rows = conn.execution_options(yield_per=10_000).execute(_candidates_query())
        pairs = find_pairs((Candidate(*row) for row in rows), min_score=min_score)
    return pairs[:limit] if limit is not None else pairs


def _candidates_query() -> Select[Any]:
    return (
        select(
            contacts.c.id,
            contacts.c.first_name,
            contacts.c.last_name,
            contacts.c.email,
            contacts.c.phone,
            contacts.c.company_name,
            accounts.c.name,
            accounts.c.domain,
            contacts.c.account_id,
        )
        .select_from(contacts)
        .outerjoin(accounts, accounts.c.id == contacts.c.account_id)
        .where(contacts.c.status == "active")
        .where(or_(contacts.c.first_name.is_not(None), contacts.c.last_name.is_not(None)))
        # Oldest first: of records with the very same name, the oldest is the one others pair with.
        .order_by(contacts.c.id)
    )
