"""People and companies for the demo: names from Faker, a hidden fit from who they are.

Fit is built from what leadflow can see (industry, size, country, the title's seniority and
department, a work or free-mail address) plus a little noise, so that fit rules written
against the stored fields can recover it.
"""

from __future__ import annotations

import random
import re
import unicodedata
from bisect import bisect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from itertools import accumulate
from typing import Generic, TypeVar

import phonenumbers
from faker import Faker

from leadflow.demo import catalog

T = TypeVar("T")

# Legal forms Faker appends to company names; a domain is made of the words before them.
_LEGAL_FORMS = frozenset(
    {"ab", "ag", "and", "co", "gmbh", "inc", "kg", "kgaa", "llc", "ltd", "me", "plc", "sa"}
    | {"sarl", "sas", "scoop", "sl", "sons", "srl", "group"}
)
_US_AREA_CODES = (
    *(201, 202, 206, 212, 213, 214, 303, 305, 312, 404, 415, 425, 503, 512, 602, 617, 646),
    *(702, 713, 718, 773, 801, 832, 858, 917, 919, 480, 510, 571, 615, 619, 628, 650, 704),
    *(720, 786, 805, 913, 949),
)


@dataclass(frozen=True)
class Company:
    name: str
    domain: str
    industry: str
    employees: int
    revenue: float
    country: str
    email_format: str

    @property
    def fit(self) -> float:
        """How well the company matches the ideal customer profile, 0 to 1."""
        industry = next(f for name, _, f in catalog.INDUSTRIES if name == self.industry)
        size = next(f for lo, hi, _, f in catalog.SIZE_BANDS if lo <= self.employees <= hi)
        market = 1.0 if self.country in catalog.CORE_MARKETS else 0.55
        return (0.3 * industry + 0.25 * size + 0.1 * market) / 0.65


@dataclass(frozen=True)
class Person:
    record: int
    first_name: str
    last_name: str
    title: str
    seniority: str
    department: str
    email: str
    phone: str | None
    company: Company | None  # None for students
    free_mail: bool
    country: str
    timezone: str
    language: str
    fit: float


class Weighted(Generic[T]):
    """Keys drawn in proportion to their weights, with the cumulative sums made once."""

    def __init__(self, weights: Mapping[T, float]) -> None:
        self.items = list(weights)
        self.cumulative = list(accumulate(weights.values()))

    def draw(self, rng: random.Random) -> T:
        return draw(rng, self.items, self.cumulative)


def draw(rng: random.Random, items: Sequence[T], cum_weights: Sequence[float]) -> T:
    """One of ``items`` by cumulative weights: ``rng.choices`` without its per-call set-up,
    for the draws made hundreds of thousands of times."""
    return items[bisect(cum_weights, rng.random() * cum_weights[-1])]


_COUNTRY = Weighted({row[0]: row[1] for row in catalog.COUNTRIES})
_ZONES = {row[0]: Weighted(dict(row[3])) for row in catalog.COUNTRIES}
_DEPARTMENT = Weighted(catalog.DEPARTMENT_SHARE)
_SENIORITY = Weighted(catalog.SENIORITY_SHARE)
# Founders answer their own inbound in small companies.
_SMALL_COMPANY_SENIORITY = Weighted(
    {k: w * 3 if k == "c_level" else w for k, w in catalog.SENIORITY_SHARE.items()}
)


class PeopleFactory:
    """Makes companies and people for one seeded run; every draw comes from ``rng``."""

    def __init__(self, rng: random.Random, accounts: int) -> None:
        self.rng = rng
        self._fakers: dict[str, Faker] = {}
        self._domains: set[str] = set()
        self._emails: set[str] = set()
        self._phones: set[str] = set()
        self.companies = [self.company(self._country()) for _ in range(max(3, accounts))]
        # Bigger companies send more people to the site, but not in proportion to headcount.
        self._company_weights = list(accumulate(c.employees**0.4 for c in self.companies))

    def faker(self, country: str) -> Faker:
        if country not in self._fakers:
            locale = next(row[2] for row in catalog.COUNTRIES if row[0] == country)
            fake = Faker(locale)
            fake.seed_instance(self.rng.getrandbits(63))
            self._fakers[country] = fake
        return self._fakers[country]

    def _country(self) -> str:
        return _COUNTRY.draw(self.rng)

    def company(self, country: str) -> Company:
        rng = self.rng
        name = self.faker(country).company()
        industry = rng.choices(
            [i[0] for i in catalog.INDUSTRIES], weights=[i[1] for i in catalog.INDUSTRIES]
        )[0]
        lo, hi, _, _ = rng.choices(catalog.SIZE_BANDS, weights=[b[2] for b in catalog.SIZE_BANDS])[
            0
        ]
        # Log-uniform within the band: there are more 60-person than 190-person companies.
        employees = round(lo * (hi / lo) ** rng.random())
        revenue = round(employees * catalog.REVENUE_PER_EMPLOYEE * rng.lognormvariate(0, 0.4), -4)
        email_format = rng.choices(catalog.EMAIL_FORMATS, weights=catalog.EMAIL_FORMAT_SHARE)[0]
        domain = self._unique_domain(name, catalog.TLD[country])
        return Company(name, domain, industry, employees, revenue, country, email_format)

    def _unique_domain(self, name: str, tld: str) -> str:
        words = [w for w in re.findall(r"[a-z0-9]+", ascii_fold(name)) if w not in _LEGAL_FORMS]
        stem = "".join(words[:2]) or "company"
        domain, n = f"{stem}.{tld}", 1
        while domain in self._domains:
            n += 1
            domain = f"{stem}{n}.{tld}"
        self._domains.add(domain)
        return domain

    def person(self, record: int, channel: str) -> Person:
        """A new person; sales prospects (outbound) are picked for fit, best of three."""
        tries = 3 if channel == "outbound" else 1
        best = max((self._candidate(record, channel) for _ in range(tries)), key=lambda p: p.fit)
        self._emails.add(best.email.lower())
        return best

    def _candidate(self, record: int, channel: str) -> Person:
        rng = self.rng
        free_mail = channel != "outbound" and rng.random() < catalog.FREE_MAIL_SHARE
        student = free_mail and rng.random() < catalog.STUDENT_SHARE_OF_FREE_MAIL
        company = None if student else self._employer(free_mail)
        country = company.country if company else self._country()
        fake = self.faker(country)
        first, last = fake.first_name(), fake.last_name()
        department = _DEPARTMENT.draw(rng)
        seniority = "individual" if student else self._seniority(company)
        title = (
            rng.choice(catalog.STUDENT_TITLES)
            if student
            else rng.choice(catalog.TITLES[(department, seniority)])
        )
        email = self._email(first, last, company, free_mail)
        phone = self.phone(country) if rng.random() < _phone_share(channel) else None
        row = next(r for r in catalog.COUNTRIES if r[0] == country)
        return Person(
            record=record,
            first_name=first,
            last_name=last,
            title=title,
            seniority=seniority,
            department=department,
            email=email,
            phone=phone,
            company=company,
            free_mail=free_mail,
            country=country,
            timezone=_ZONES[country].draw(rng),
            language=row[4],
            fit=self._fit(company, seniority, department, free_mail),
        )

    def _employer(self, free_mail: bool) -> Company:
        if free_mail:
            # People on personal addresses work somewhere too; leadflow just cannot tell where.
            return self.company(self._country())
        return draw(self.rng, self.companies, self._company_weights)

    def _seniority(self, company: Company | None) -> str:
        small = company is not None and company.employees <= 50
        return (_SMALL_COMPANY_SENIORITY if small else _SENIORITY).draw(self.rng)

    def _fit(
        self, company: Company | None, seniority: str, department: str, free_mail: bool
    ) -> float:
        if company is None:
            return round(self.rng.uniform(0.02, 0.12), 4)
        person = 0.2 * catalog.SENIORITY_FIT[seniority] + 0.15 * catalog.DEPARTMENT_FIT[department]
        fit = 0.65 * company.fit + person
        if free_mail:
            fit *= 0.75
        return round(min(1.0, max(0.0, fit + self.rng.gauss(0, 0.05))), 4)

    def _email(self, first: str, last: str, company: Company | None, free_mail: bool) -> str:
        f, lname = _letters(first) or "someone", _letters(last) or "person"
        if company is None or free_mail:
            local = self.rng.choice((f"{f}.{lname}", f"{f}{lname}", f"{f[0]}{lname}"))
            domain = self.rng.choice(catalog.FREE_MAIL_DOMAINS)
            local += str(self.rng.randint(1, 99)) if self.rng.random() < 0.5 else ""
        else:
            local = {
                "first.last": f"{f}.{lname}",
                "flast": f"{f[0]}{lname}",
                "first": f,
                "first_last": f"{f}_{lname}",
                "firstl": f"{f}{lname[0]}",
            }[company.email_format]
            domain = company.domain
        return self.unique_email(local, domain)

    def unique_email(self, local: str, domain: str) -> str:
        email, n = f"{local}@{domain}", 1
        while email.lower() in self._emails:
            n += 1
            email = f"{local}{n}@{domain}"
        self._emails.add(email.lower())
        return email

    def phone(self, country: str) -> str:
        """A phone number nobody else in the demo has (a shared one would merge two people)."""
        for attempt in range(100):
            number = self._phone_number(country, fictional=attempt < 5)
            if number not in self._phones:
                self._phones.add(number)
                return number
        raise AssertionError(f"no free phone number left for {country}")

    def _phone_number(self, country: str, *, fictional: bool) -> str:
        rng = self.rng
        if country == "US" and fictional:
            # 555-0100 to 555-0199 are reserved for fiction in North America.
            return f"+1 ({rng.choice(_US_AREA_CODES)}) 555-01{rng.randint(0, 99):02d}"
        example = phonenumbers.example_number_for_type(country, phonenumbers.PhoneNumberType.MOBILE)
        assert example is not None, f"phonenumbers has an example for {country}"
        digits = str(example.national_number)
        example.national_number = int(digits[:-6] + f"{rng.randint(0, 999_999):06d}")
        return phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)

    def near_duplicate(self, record: int, original: Person) -> Person:
        """The same person under another address: a personal one, or the work one misspelt."""
        f, lname = _letters(original.first_name), _letters(original.last_name)
        if original.free_mail or self.rng.random() < 0.5:
            email = self.unique_email(f"{f}{lname}", self.rng.choice(catalog.FREE_MAIL_DOMAINS))
        else:
            domain = original.email.rpartition("@")[2]
            email = self.unique_email(f"{f[:1]}.{lname}", domain)
        return replace(original, record=record, email=email, phone=None)


def _phone_share(channel: str) -> float:
    return catalog.PHONE_SHARE.get(channel, catalog.DEFAULT_PHONE_SHARE)


def ascii_fold(text: str) -> str:
    """Lower-case ASCII: "Lemaître" -> "lemaitre", for addresses and domains."""
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()


def _letters(text: str) -> str:
    return re.sub(r"[^a-z]", "", ascii_fold(text))
