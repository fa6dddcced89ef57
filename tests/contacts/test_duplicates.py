from __future__ import annotations

import itertools
import random
import string
from typing import Any

import pytest

from leadflow.clock import FrozenClock
from leadflow.contacts import duplicates as duplicates_module
from leadflow.contacts.duplicates import (
    COMPANY_BLOCK_SPLIT,
    DEFAULT_MIN_SCORE,
    EVIDENCE_BLOCK_MAX,
    Candidate,
    DuplicatePair,
    find_duplicates,
    find_pairs,
)
from leadflow.contacts.inputs import ContactInput
from leadflow.contacts.merge import merge_contacts
from leadflow.contacts.service import capture_contact
from leadflow.storage.database import Database

_ids = itertools.count(1)


def person(first: str | None, last: str | None, **fields: Any) -> Candidate:
    return Candidate(
        id=fields.pop("id", None) or next(_ids), first_name=first, last_name=last, **fields
    )


def pairs_of(*records: Candidate, min_score: int = 0) -> dict[tuple[int, int], DuplicatePair]:
    return {(p.a.id, p.b.id): p for p in find_pairs(records, min_score=min_score)}


def test_same_person_with_a_typo_at_the_same_company_is_found():
    jon = person("Jon", "Smith", company="Acme")
    john = person("John", "Smith", company="ACME Inc.")

    [pair] = find_pairs([jon, john])

    assert (pair.a, pair.b) == (jon, john)
    assert pair.reasons == ("name similarity 94", "same company name")
    assert pair.score == 94


def test_same_name_in_the_same_account_scores_highest():
    a = person("Maria", "García", account_id=7, account_name="Umbrella", domain="umbrella.com")
    b = person("maria", "garcia", account_id=7, account_name="Umbrella", domain="umbrella.com")

    [pair] = find_pairs([a, b])

    assert (pair.score, pair.reasons) == (100, ("same name", "same account"))


def test_account_domain_and_typed_company_name_are_the_same_company():
    a = person("Ann", "Lee", domain="globex.com", account_name="Globex Corporation")
    b = person("Ann", "Lee", company="The Globex Corp.")
    c = person("Ann", "Lee", domain="globex.co.uk")

    found = pairs_of(a, b, c)

    # Records with the very same name pair with the oldest of them only.
    assert set(found) == {(a.id, b.id), (a.id, c.id)}
    assert all(p.reasons[1] == "same company name" for p in found.values())


def test_names_entered_backwards_are_the_same_name():
    a = person("Smith", "Anna", company="Acme")
    b = person("Anna", "Smith", company="Acme")

    assert pairs_of(a, b)[(a.id, b.id)].reasons[0] == "same name"


def test_different_people_in_the_same_company_are_not_paired():
    people = [
        person("John", "Smith", company="Acme"),
        person("Jane", "Smith", company="Acme"),
        person("Joan", "Smith", company="Acme"),
        person("John", "Smithers", company="Acme"),
        person("Peter", "Jones", company="Acme"),
    ]

    assert find_pairs(people, min_score=0) == []


def test_same_name_in_unrelated_companies_is_not_paired_without_evidence():
    a = person("John", "Smith", company="Acme", email="john@acme.com")
    b = person("John", "Smith", company="Globex", email="john.smith@globex.com")
    c = person("John", "Smith", email="jsmith@gmail.com")
    d = person("John", "Smith", email="johnny@yahoo.com")

    found = pairs_of(a, b, c, d)

    # c and d only pair with a company-side record (a, b), never with each other.
    assert (a.id, b.id) not in found
    assert (c.id, d.id) not in found


def test_same_name_in_unrelated_companies_pairs_on_the_same_phone_or_email_name():
    a = person("John", "Smith", company="Acme", phone="+14155550100", email="js1987@acme.com")
    b = person("John", "Smith", company="Globex", phone="+14155550100")
    c = person("Jon", "Smith", company="Initech", email="JS.1987+news@hooli.com")

    found = pairs_of(a, b, c)

    assert found[(a.id, b.id)].reasons == ("same name", "different companies", "same phone")
    assert found[(a.id, c.id)].reasons == (
        "name similarity 94",
        "different companies",
        "same email name js1987@",
    )
    assert (b.id, c.id) not in found


def test_an_email_name_made_of_the_persons_name_is_no_evidence():
    locals_ = ("john.smith", "jsmith", "John_Smith", "smithj")
    pairs = [
        (
            person("John", "Smith", company=f"Left {n}", email=f"{local}@left{n}.com"),
            person("John", "Smith", company=f"Right {n}", email=f"{local}@right{n}.com"),
        )
        for n, local in enumerate(locals_)
    ]

    for left, right in pairs:
        assert find_pairs([left, right], min_score=0) == []


def test_a_phone_many_share_is_no_evidence():
    shared = {"phone": "+442079460958"}
    switchboard = [
        person("John", "Smith", company=f"Company {n}", **shared)
        for n in range(EVIDENCE_BLOCK_MAX + 1)
    ]

    assert find_pairs(switchboard, min_score=0) == []


def test_colleagues_sharing_a_phone_pair_only_below_the_default_score():
    a = person("Bob", "Miller", company="Acme", phone="+14155550111")
    b = person("Robert", "Miller", company="Acme", phone="+14155550111")

    [pair] = find_pairs([a, b], min_score=0)

    assert pair.score <= 70
    assert pair.reasons[0] == "first names differ (Bob / Robert)"
    assert find_pairs([a, b]) == []


def test_same_name_with_a_company_on_one_side_only_is_a_weaker_match():
    work = person("Maria", "Garcia", domain="umbrella.com", account_id=3)
    personal = person("María", "García", email="maria.g@gmail.com")
    nobody = person("Maria", "Garcia", email="mg@yahoo.com")

    found = pairs_of(work, personal, nobody)

    assert found[(work.id, personal.id)].reasons == ("same name", "company known on one side only")
    assert found[(work.id, personal.id)].score == 85
    assert (personal.id, nobody.id) not in found


def test_a_common_name_without_a_company_is_not_paired():
    smiths = [person("John", "Smith", company=name) for name in ("Acme", "Globex", "Initech")]
    personal = person("John", "Smith", email="johnny@gmail.com")

    assert find_pairs([*smiths, personal], min_score=0) == []
    assert len(find_pairs([smiths[0], personal], min_score=0)) == 1


def test_records_without_a_name_and_placeholder_companies_are_ignored():
    unnamed = [person(None, None, company="Acme"), person(None, None, company="Acme")]
    freelancers = [
        person("Sam", "Taylor", company="Self-employed"),
        person("Sam", "Tailor", company="N/A"),
    ]

    assert find_pairs([*unnamed, *freelancers], min_score=0) == []


def test_pairs_are_sorted_by_score_and_cut_at_the_minimum():
    records = [
        person("Jon", "Smith", company="Acme"),
        person("Lee", "Wong", account_id=1),
        person("Kim", "Park", company="Initech"),
        person("Kim", "Park", email="kim.park@gmail.com"),
        person("John", "Smith", company="Acme"),
        person("Lee", "Wong", account_id=1),
    ]

    assert [p.score for p in find_pairs(records, min_score=0)] == [100, 94, 85]
    assert [p.score for p in find_pairs(records, min_score=95)] == [100]


def test_blocking_keeps_the_comparisons_near_linear(monkeypatch: pytest.MonkeyPatch):
    rng = random.Random(7)

    records = [
        Candidate(
            id=n,
            first_name=random_name(rng),
            last_name=random_name(rng),
            company=f"Company {n % 800}",
        )
        for n in range(8000)
    ]
    scored = 0
    original = duplicates_module._score_pair

    def counting(*args: Any) -> DuplicatePair | None:
        nonlocal scored
        scored += 1
        return original(*args)

    monkeypatch.setattr(duplicates_module, "_score_pair", counting)
    find_pairs(
        [
            *records,
            Candidate(id=9000, first_name="Ann", last_name="Lee", company="Acme"),
            Candidate(id=9001, first_name="Anne", last_name="Lee", company="Acme Inc"),
        ]
    )

    # 8,000 records make 32 million pairs; only those in a block with a similar name are
    # scored (the Ann Lee pair at least).
    assert 1 <= scored < 8000


def test_a_big_account_still_finds_a_typo_in_either_name():
    rng = random.Random(3)
    staff = [
        person(random_name(rng), random_name(rng), account_id=1, domain="acme.com")
        for _ in range(COMPANY_BLOCK_SPLIT)
    ]
    typos = [
        person(first, last, account_id=1, domain="acme.com")
        for first, last in (
            ("Kristina", "Olsen"),
            ("Christina", "Olsen"),  # another first initial, the same sounding last name
            ("Mark", "Thompson"),
            ("Mark", "Tompson"),  # another sounding last name, the same first name
        )
    ]

    found = pairs_of(*staff, *typos, min_score=DEFAULT_MIN_SCORE)

    assert (typos[0].id, typos[1].id) in found
    assert (typos[2].id, typos[3].id) in found


def random_name(rng: random.Random) -> str:
    return "".join(rng.choices(string.ascii_lowercase, k=rng.randint(4, 9))).title()


# -- storage ---------------------------------------------------------------------------------


def test_find_duplicates_reads_active_contacts_from_storage(db: Database, clock: FrozenClock):
    def capture(**fields: Any) -> int:
        return capture_contact(db, clock, ContactInput(**fields)).contact_id

    jon = capture(email="jon@acme.com", first_name="Jon", last_name="Smith")
    john = capture(email="john.smith@acme.com", first_name="John", last_name="Smith")
    capture(email="jane@acme.com", first_name="Jane", last_name="Smith")
    ann = capture(email="ann@globex.com", first_name="Ann", last_name="Lee", phone="+14155550100")
    ann2 = capture(email="ann.lee@gmail.com", first_name="Ann", last_name="Lee", company="Globex")

    found = find_duplicates(db)

    assert [(p.a.id, p.b.id) for p in found] == [(ann, ann2), (jon, john)]
    assert found[0].reasons == ("same name", "same company name")
    assert found[1].reasons == ("name similarity 94", "same account")
    assert (found[1].a.domain, found[1].a.email) == ("acme.com", "jon@acme.com")
    assert find_duplicates(db, limit=1) == found[:1]

    merge_contacts(db, clock, jon, john, merged_by="test")

    assert [(p.a.id, p.b.id) for p in find_duplicates(db)] == [(ann, ann2)]
