from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from leadflow.clock import FrozenClock
from leadflow.contacts.imports import import_contacts, load_mapping
from leadflow.contacts.models import accounts, contacts, touches
from leadflow.contacts.queries import get_contact
from leadflow.errors import InputFileError
from leadflow.storage.database import Database
from tests.files import read_csv, write_csv

LIMIT = 10**9
HEADER = ["Email", "First Name", "Last Name", "Company", "Job Title", "Phone", "Country"]
HEADER += ["Website", "Employees", "Annual Revenue", "Lead Source", "Created Date", "Colour"]
JANE = ["jane@acme.com", "Jane", "Doe", "Acme", "VP Marketing", "+1 415 555 0100", "US"]
JANE += ["https://www.acme.com", "1,200", "$12M", "Web", "2024-03-01T10:00:00Z", "blue"]
BOB = ["bob@globex.com", "Bob", "Smith", "Globex", "Engineer", "", "Germany"]
BOB += ["globex.com", "51-200", "", "Partner Referral", "2024-03-02", ""]
ROWS = [JANE, BOB]


def count(db: Database, table: object) -> int:
    with db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]


def run(db: Database, clock: FrozenClock, path: Path, **options: object):
    mapping = load_mapping(
        str(options.pop("mapping", "auto")), strict=bool(options.pop("strict", False))
    )
    return import_contacts(db, clock, path, mapping=mapping, max_bytes=LIMIT, **options)  # type: ignore[arg-type]


def test_auto_mapping_fills_contact_account_touch_and_properties(
    db: Database, clock: FrozenClock, tmp_path: Path
):
    summary = run(db, clock, write_csv(tmp_path / "leads.csv", HEADER, ROWS))

    jane = get_contact(db, "jane@acme.com")
    assert (summary.run.rows, summary.created, summary.updated, summary.run.rejected) == (
        2,
        2,
        0,
        0,
    )
    assert (jane["phone"], jane["title"], jane["seniority"], jane["country"]) == (
        "+14155550100",
        "VP Marketing",
        "vp",
        "US",
    )
    assert jane["account"]["domain"] == "acme.com"
    assert (jane["account"]["employee_count"], jane["account"]["annual_revenue"]) == (1200, 12e6)
    assert jane["properties"] == {"colour": "blue", "lead_source": "Web"}
    assert [(t["channel"], t["occurred_at"].isoformat()) for t in jane["touches"]] == [
        ("web_form", "2024-03-01T10:00:00+00:00")
    ]
    assert get_contact(db, "bob@globex.com")["touches"][0]["channel"] == "partner"


def test_reimporting_the_same_file_adds_nothing(db: Database, clock: FrozenClock, tmp_path: Path):
    path = write_csv(tmp_path / "leads.csv", HEADER, ROWS)
    run(db, clock, path)
    clock.advance(__import__("datetime").timedelta(days=1))

    again = run(db, clock, path)

    assert (again.created, again.updated) == (0, 2)
    assert (count(db, contacts), count(db, touches), count(db, accounts)) == (2, 2, 2)


def test_a_person_twice_in_one_file_is_one_contact(
    db: Database, clock: FrozenClock, tmp_path: Path
):
    rows = [["a@acme.com", "Ann"], ["b@acme.com", "Ben"], ["A@ACME.com", "Annie"]]
    summary = run(db, clock, write_csv(tmp_path / "x.csv", ["email", "first_name"], rows))

    assert (summary.created, summary.updated) == (2, 1)
    assert get_contact(db, "a@acme.com")["first_name"] == "Annie"  # later rows win


def test_hubspot_export_columns(db: Database, clock: FrozenClock, tmp_path: Path):
    header = ["Record ID", "First Name", "Email", "Phone Number", "Company Name", "Website URL"]
    header += ["Number of Employees", "Country/Region", "Original Source", "Create Date"]
    header += ["Lifecycle Stage"]
    row = ["901", "Kim", "kim@initech.io", "+44 20 7946 0958", "Initech", "initech.io", "40"]
    row += ["United Kingdom", "ORGANIC_SEARCH", "2023-11-05 14:30", "lead"]
    run(db, clock, write_csv(tmp_path / "hubspot.csv", header, [row]), mapping="hubspot")

    kim = get_contact(db, "external_id:901")
    assert kim["email"] == "kim@initech.io"
    assert kim["country"] == "GB"
    assert kim["touches"][0]["channel"] == "web_form"
    assert kim["properties"]["hubspot_lifecycle_stage"] == "lead"
    assert kim["account"]["employee_count"] == 40


def test_salesforce_lead_fields(db: Database, clock: FrozenClock, tmp_path: Path):
    header = ["Id", "FirstName", "LastName", "Email", "Company", "Title", "LeadSource"]
    header += ["NumberOfEmployees", "AnnualRevenue", "Status", "Rating", "CreatedDate"]
    row = ["00Q5e00000AbCdE", "Lee", "Park", "lee@hooli.com", "Hooli", "CTO", "Purchased List"]
    row += ["5000", "2500000.00", "Open - Not Contacted", "Hot", "2024-01-15T08:00:00.000+0000"]
    run(db, clock, write_csv(tmp_path / "sf.csv", header, [row]), mapping="salesforce")

    lee = get_contact(db, "lee@hooli.com")
    assert lee["seniority"] == "c_level"
    assert lee["touches"][0]["channel"] == "import"
    assert lee["properties"] == {
        "salesforce_status": "Open - Not Contacted",
        "salesforce_rating": "Hot",
        "lead_source": "Purchased List",
    }
    assert lee["account"]["annual_revenue"] == 2.5e6


def test_strict_names_the_unknown_columns(db: Database, clock: FrozenClock, tmp_path: Path):
    path = write_csv(tmp_path / "x.csv", ["email", "shoe size", "pet"], [["a@b.com", "9", "cat"]])

    with pytest.raises(InputFileError, match="unknown columns \\['shoe size', 'pet'\\]"):
        run(db, clock, path, strict=True)


def test_mapping_file_names_columns_channels_and_date_format(
    db: Database, clock: FrozenClock, tmp_path: Path
):
    mapping = tmp_path / "map.yaml"
    mapping.write_text(
        "columns:\n  E-Mail-Adresse: email\n  Vorname: first_name\n  Quelle: channel\n"
        "  Datum: created_at\n  Notiz: properties.note\n  Intern: ignore\n"
        "channels:\n  Messe: partner\ndate_format: '%d.%m.%Y'\n"
    )
    header = ["E-Mail-Adresse", "Vorname", "Quelle", "Datum", "Notiz", "Intern"]
    path = write_csv(
        tmp_path / "de.csv", header, [["m@firma.de", "Mia", "Messe", "31.01.2024", "hi", "x"]]
    )
    run(db, clock, path, mapping=str(mapping))

    mia = get_contact(db, "m@firma.de")
    assert mia["first_name"] == "Mia"
    assert mia["properties"] == {"note": "hi", "lead_source": "Messe"}
    assert (mia["touches"][0]["channel"], mia["touches"][0]["occurred_at"].day) == ("partner", 31)


def test_mapping_file_with_an_unknown_field_names_file_and_column(tmp_path: Path):
    mapping = tmp_path / "map.yaml"
    mapping.write_text("columns:\n  Mail: e_mail\n")

    with pytest.raises(InputFileError) as caught:
        load_mapping(str(mapping))

    assert caught.value.path == str(mapping)
    assert caught.value.column == "Mail"


def test_abort_stores_nothing_and_names_row_and_column(
    db: Database, clock: FrozenClock, tmp_path: Path
):
    rows = [["a@acme.com", "Ann"], ["b@acme.com", "Ben"], ["not-an-email", "Cy"]]
    path = write_csv(tmp_path / "x.csv", ["E-mail", "First Name"], rows)

    with pytest.raises(InputFileError) as caught:
        run(db, clock, path)

    assert (caught.value.row, caught.value.column) == (4, "E-mail")
    assert "not-an-email" in caught.value.reason
    assert count(db, contacts) == 0


def test_skip_commits_good_rows_and_writes_rejects(
    db: Database, clock: FrozenClock, tmp_path: Path
):
    rows = [["a@acme.com", "2024-01-01"], ["b@acme", "2024-01-02"], ["c@acme.com", "2023-02-30"]]
    path = write_csv(tmp_path / "x.csv", ["email", "created"], rows)

    summary = run(db, clock, path, on_error="skip")

    rejects = read_csv(tmp_path / "x.rejects.csv")
    assert (summary.created, summary.run.rejected, summary.run.rejects_path) == (
        1,
        2,
        tmp_path / "x.rejects.csv",
    )
    assert [(r["leadflow_row"], r["email"]) for r in rejects] == [
        ("3", "b@acme"),
        ("4", "c@acme.com"),
    ]
    assert rejects[1]["leadflow_error"].startswith(
        "column 'created': '2023-02-30' is not a valid date"
    )
    assert count(db, contacts) == 1


def test_corrected_rejects_file_imports_as_it_is(db: Database, clock: FrozenClock, tmp_path: Path):
    path = write_csv(tmp_path / "x.csv", ["email", "first_name"], [["b@acme", "Bo"]])
    run(db, clock, path, on_error="skip", strict=True)
    fixed = tmp_path / "x.rejects.csv"
    fixed.write_text(fixed.read_text().replace("b@acme", "b@acme.com"))

    summary = run(db, clock, fixed, strict=True)

    assert summary.created == 1


@pytest.mark.parametrize(
    ("content", "row", "problem"),
    [
        (b'email,name\na@b.com,"Ann\nc@d.com,Cy\n', 2, "unbalanced quote"),
        (b"email,name\na@b.com,Ann\nc@d.com,Cy,extra\n", 3, "has 3 fields where the header has 2"),
        (b"email,name\na@b.com,An\x00n\n", 2, "NUL byte"),
        (b"email,name\na@b.com,Ann\nc@d.com,Jos\xe9\n", 3, "is not UTF-8"),
        (b"email,name\na@b.com,Ann\nnope,Cy\n", 3, "is not an email address"),
        (b"name,company\nAnn,Acme\n", 1, "no column gives an email, phone"),
    ],
)
def test_bad_files_name_the_row_and_store_nothing(
    db: Database, clock: FrozenClock, tmp_path: Path, content: bytes, row: int, problem: str
):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)

    with pytest.raises(InputFileError, match=problem) as caught:
        run(db, clock, path)

    assert (caught.value.path, caught.value.row) == (str(path), row)
    assert count(db, contacts) == 0


def test_empty_and_oversized_files_are_refused_before_reading(
    db: Database, clock: FrozenClock, tmp_path: Path
):
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    big = write_csv(tmp_path / "big.csv", ["email"], [[f"p{i}@acme.com"] for i in range(100)])

    with pytest.raises(InputFileError, match="is empty"):
        run(db, clock, empty)
    with pytest.raises(InputFileError, match="above the import limit of 500 bytes"):
        import_contacts(db, clock, big, max_bytes=500)


def test_national_phone_numbers_use_the_workspace_region(
    db: Database, clock: FrozenClock, tmp_path: Path
):
    path = write_csv(tmp_path / "x.csv", ["email", "phone"], [["a@acme.com", "030 1234567"]])

    import_contacts(db, clock, path, max_bytes=LIMIT, default_region="DE")

    assert get_contact(db, "a@acme.com")["phone"] == "+49301234567"


def test_worker_processes_give_the_same_result(db: Database, clock: FrozenClock, tmp_path: Path):
    rows = [[f"p{i % 150}@firm.com", f"Name{i}", "bad" if i == 77 else "US"] for i in range(300)]
    path = write_csv(tmp_path / "x.csv", ["email", "first name", "country"], rows)

    summary = import_contacts(db, clock, path, max_bytes=LIMIT, on_error="skip", workers=2)

    assert (summary.run.rows, summary.created, summary.updated, summary.run.rejected) == (
        300,
        150,
        149,
        1,
    )
    assert summary.run.first_rows == [79]
    assert get_contact(db, "p1@firm.com")["first_name"] == "Name151"


def test_a_row_touch_takes_every_touch_column(db: Database, clock: FrozenClock, tmp_path: Path):
    header = ["Email", "Lead Source", "Campaign", "UTM Source", "UTM Medium", "UTM Campaign"]
    header += ["UTM Term", "UTM Content", "Referrer", "Landing Page", "Created Date"]
    row = ["ann@acme.com", "Webinar", "Q4", "news", "mail", "launch", "crm", "hero"]
    row += ["https://ref.example", "https://acme.com/in", "2024-03-01T10:00:00Z"]
    write_csv(tmp_path / "in.csv", header, [row])

    run(db, clock, tmp_path / "in.csv")

    with db.read() as conn:
        touch = conn.execute(select(touches)).one()._mapping
    given = dict(zip(header[1:-1], row[1:-1], strict=True))
    assert touch["channel"] == "webinar"
    assert (touch["campaign"], touch["utm_source"], touch["utm_medium"]) == ("Q4", "news", "mail")
    assert (touch["utm_campaign"], touch["utm_term"], touch["utm_content"]) == tuple(
        given[k] for k in ("UTM Campaign", "UTM Term", "UTM Content")
    )
    assert (touch["referrer"], touch["landing_page"]) == (row[8], row[9])
