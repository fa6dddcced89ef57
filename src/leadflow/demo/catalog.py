"""The demo company's world: who visits, through which channels, what they read, what they buy.

The demo sells *Pipewell*, a B2B SaaS revenue platform, from ``pipewell.example`` (a reserved
name, so no link in the demo points at a real site). Rates are calibrated on three real funnels
kept outside the product (``shared/data``), never read at run time:

- Olist's marketing funnel (8,000 MQLs, 10.5 % closed): channel mix (organic search 29 %,
  paid search and display 21 %, social 17 %, email 6 %, referral 4 %), win rate per origin
  (paid 12 %, organic 12 %, referral 9 %, social 6 %, email 3 %), sign-ups per weekday
  (Mon-Fri 19/18/19/17/14 %, Sat and Sun 7 % each) and time from first contact to close
  (median 14 days, upper quartile 55, 90th percentile 162).
- X Education's leads: converters spend about twice the time on the site (738 s against
  330 s), 3.5 % of leads end on a bounced email, 7.9 % ask not to be emailed.
- Maven's CRM pipeline: 63 % of closed opportunities are won; engage to close takes a median
  of 57 days for wins and 14 for losses.
"""

from __future__ import annotations

from collections.abc import Mapping

COMPANY = "Pipewell"
SITE = "https://www.pipewell.example"

# Share of arrivals per first-touch channel. Olist's organic and direct traffic (35 %) is our
# inbound web (forms, content, newsletter, webinars); its paid search and display (21 %) our
# paid ads; Olist has no outbound, partner or import leads, so those take a B2B-typical share.
CHANNEL_MIX: Mapping[str, float] = {
    "web_form": 0.16,
    "content_download": 0.13,
    "newsletter": 0.07,
    "webinar": 0.06,
    "paid_ads": 0.19,
    "social": 0.13,
    "email": 0.05,
    "referral": 0.04,
    "partner": 0.04,
    "outbound": 0.08,
    "import": 0.03,
    "api": 0.02,
}

# Intent at arrival as Beta(a, b) per channel: asking for a demo or being referred shows more
# of it than following a social post or being prospected cold (Olist: paid and organic win
# about twice as often as social, four times as often as email).
CHANNEL_INTENT: Mapping[str, tuple[float, float]] = {
    "web_form": (2.0, 3.0),
    "referral": (2.2, 3.0),
    "partner": (1.8, 3.4),
    "api": (1.6, 3.4),
    "paid_ads": (1.5, 3.8),
    "webinar": (1.5, 3.8),
    "content_download": (1.3, 4.2),
    "import": (0.8, 5.0),
    "newsletter": (1.0, 5.0),
    "social": (1.0, 5.2),
    "email": (1.0, 5.5),
    "outbound": (0.8, 5.0),
}

# Channels whose people come through the website (and so may have browsed anonymously first).
WEB_CHANNELS = frozenset(
    {"web_form", "content_download", "newsletter", "webinar", "paid_ads", "social", "referral"}
)

# Share of people who give a phone number, by channel: sales-sourced lists carry direct dials.
PHONE_SHARE: Mapping[str, float] = {
    "outbound": 0.65,
    "partner": 0.5,
    "import": 0.45,
    "web_form": 0.4,
    "referral": 0.35,
}
DEFAULT_PHONE_SHARE = 0.15

# (country, share of contacts, Faker locale, [(time zone, share)], language)
COUNTRIES: tuple[tuple[str, float, str, tuple[tuple[str, float], ...], str], ...] = (
    (
        "US",
        0.42,
        "en_US",
        (
            ("America/New_York", 0.5),
            ("America/Chicago", 0.2),
            ("America/Denver", 0.08),
            ("America/Los_Angeles", 0.22),
        ),
        "en",
    ),
    ("GB", 0.12, "en_GB", (("Europe/London", 1.0),), "en"),
    ("DE", 0.08, "de_DE", (("Europe/Berlin", 1.0),), "de"),
    ("CA", 0.06, "en_CA", (("America/Toronto", 0.6), ("America/Vancouver", 0.4)), "en"),
    ("IN", 0.06, "en_IN", (("Asia/Kolkata", 1.0),), "en"),
    ("FR", 0.05, "fr_FR", (("Europe/Paris", 1.0),), "fr"),
    ("NL", 0.04, "nl_NL", (("Europe/Amsterdam", 1.0),), "nl"),
    ("AU", 0.04, "en_AU", (("Australia/Sydney", 1.0),), "en"),
    ("BR", 0.04, "pt_BR", (("America/Sao_Paulo", 1.0),), "pt-BR"),
    ("ES", 0.03, "es_ES", (("Europe/Madrid", 1.0),), "es"),
    ("SE", 0.03, "sv_SE", (("Europe/Stockholm", 1.0),), "sv"),
    ("IE", 0.03, "en_IE", (("Europe/Dublin", 1.0),), "en"),
)
CORE_MARKETS = frozenset({"US", "GB", "CA", "DE", "NL", "AU", "IE", "SE", "FR"})

TLD: Mapping[str, str] = {
    "US": "com",
    "GB": "co.uk",
    "DE": "de",
    "CA": "ca",
    "IN": "in",
    "FR": "fr",
    "NL": "nl",
    "AU": "com.au",
    "BR": "com.br",
    "ES": "es",
    "SE": "se",
    "IE": "ie",
}

FREE_MAIL_DOMAINS = ("gmail.com", "yahoo.com", "outlook.com", "hotmail.com", "icloud.com")
FREE_MAIL_SHARE = 0.17
STUDENT_SHARE_OF_FREE_MAIL = 0.2

# (industry, share of accounts, fit for Pipewell's ideal customer profile)
INDUSTRIES: tuple[tuple[str, float, float], ...] = (
    ("Software", 0.2, 1.0),
    ("Financial Services", 0.09, 0.85),
    ("Marketing & Advertising", 0.08, 0.85),
    ("Professional Services", 0.1, 0.8),
    ("Telecommunications", 0.04, 0.6),
    ("Media", 0.05, 0.55),
    ("Manufacturing", 0.1, 0.5),
    ("Logistics", 0.05, 0.5),
    ("Healthcare", 0.08, 0.45),
    ("Retail", 0.08, 0.45),
    ("Real Estate", 0.04, 0.4),
    ("Education", 0.05, 0.25),
    ("Non-profit", 0.02, 0.2),
    ("Government", 0.02, 0.2),
)

# (low, high employee count, share of accounts, fit): Pipewell sells best to 51-1,000 people.
SIZE_BANDS: tuple[tuple[int, int, float, float], ...] = (
    (1, 10, 0.15, 0.2),
    (11, 50, 0.25, 0.55),
    (51, 200, 0.25, 0.95),
    (201, 1000, 0.18, 1.0),
    (1001, 5000, 0.1, 0.7),
    (5001, 50000, 0.07, 0.45),
)
REVENUE_PER_EMPLOYEE = 180_000.0  # median, USD; spread log-normally per account

# Job titles per department and seniority. Seniority is never sent: leadflow derives it
# from the title, as it must for real captures.
DEPARTMENT_FIT: Mapping[str, float] = {
    "sales": 1.0,
    "marketing": 1.0,
    "revops": 1.0,
    "customer_success": 0.6,
    "operations": 0.45,
    "finance": 0.3,
    "engineering": 0.3,
}
DEPARTMENT_SHARE: Mapping[str, float] = {
    "sales": 0.24,
    "marketing": 0.26,
    "revops": 0.1,
    "customer_success": 0.08,
    "operations": 0.12,
    "finance": 0.08,
    "engineering": 0.12,
}
SENIORITY_SHARE: Mapping[str, float] = {
    "individual": 0.45,
    "manager": 0.28,
    "director": 0.14,
    "vp": 0.07,
    "c_level": 0.06,
}
SENIORITY_FIT: Mapping[str, float] = {
    "c_level": 0.75,
    "vp": 1.0,
    "director": 0.95,
    "manager": 0.7,
    "individual": 0.35,
}
TITLES: Mapping[tuple[str, str], tuple[str, ...]] = {
    ("sales", "individual"): ("Account Executive", "Sales Development Representative"),
    ("sales", "manager"): ("Sales Manager", "Team Lead, Inside Sales"),
    ("sales", "director"): ("Director of Sales", "Head of Sales"),
    ("sales", "vp"): ("VP of Sales", "Vice President, Sales"),
    ("sales", "c_level"): ("Chief Revenue Officer", "CRO"),
    ("marketing", "individual"): ("Marketing Specialist", "Demand Generation Specialist"),
    ("marketing", "manager"): ("Marketing Manager", "Growth Marketing Manager"),
    ("marketing", "director"): ("Director of Marketing", "Head of Demand Generation"),
    ("marketing", "vp"): ("VP Marketing", "Vice President of Marketing"),
    ("marketing", "c_level"): ("CMO", "Chief Marketing Officer"),
    ("revops", "individual"): ("Revenue Operations Analyst", "Sales Operations Analyst"),
    ("revops", "manager"): ("Revenue Operations Manager", "Marketing Operations Manager"),
    ("revops", "director"): ("Director of Revenue Operations", "Head of RevOps"),
    ("revops", "vp"): ("VP Revenue Operations", "VP of Sales Operations"),
    ("revops", "c_level"): ("Chief Operating Officer", "COO"),
    ("customer_success", "individual"): ("Customer Success Associate", "Account Specialist"),
    ("customer_success", "manager"): ("Customer Success Manager", "Support Team Lead"),
    ("customer_success", "director"): ("Director of Customer Success", "Head of Customer Success"),
    ("customer_success", "vp"): ("VP Customer Success", "VP of Customer Experience"),
    ("customer_success", "c_level"): ("Chief Customer Officer", "Founder"),
    ("operations", "individual"): ("Operations Analyst", "Business Analyst"),
    ("operations", "manager"): ("Operations Manager", "Project Manager"),
    ("operations", "director"): ("Director of Operations", "Head of Operations"),
    ("operations", "vp"): ("VP Operations", "Vice President, Operations"),
    ("operations", "c_level"): ("CEO", "Co-Founder & CEO"),
    ("finance", "individual"): ("Financial Analyst", "Accountant"),
    ("finance", "manager"): ("Finance Manager", "Controller Team Lead"),
    ("finance", "director"): ("Finance Director", "Head of Finance"),
    ("finance", "vp"): ("VP Finance", "Vice President, Finance"),
    ("finance", "c_level"): ("CFO", "Chief Financial Officer"),
    ("engineering", "individual"): ("Software Engineer", "Data Engineer"),
    ("engineering", "manager"): ("Engineering Manager", "Tech Lead"),
    ("engineering", "director"): ("Director of Engineering", "Head of Engineering"),
    ("engineering", "vp"): ("VP Engineering", "Vice President of Engineering"),
    ("engineering", "c_level"): ("CTO", "Chief Technology Officer"),
}
STUDENT_TITLES = ("Student", "MBA Candidate", "Graduate Student")

# Email address shapes a company uses for everyone (one per account).
EMAIL_FORMATS = ("first.last", "flast", "first", "first_last", "firstl")
EMAIL_FORMAT_SHARE = (0.5, 0.2, 0.1, 0.1, 0.1)

# Website pages: (path, title, base weight). Pricing's weight grows with intent and careers'
# with the visitor being a student, so what people read says something about them.
PAGES: tuple[tuple[str, str, float], ...] = (
    ("/", "Pipewell: revenue platform for B2B teams", 1.0),
    ("/product", "Product overview", 0.6),
    ("/features/lead-scoring", "Lead scoring", 0.45),
    ("/features/routing", "Lead routing and SLAs", 0.35),
    ("/features/nurture", "Nurture sequences", 0.3),
    ("/integrations", "Integrations", 0.3),
    ("/integrations/salesforce", "Salesforce integration", 0.15),
    ("/customers", "Customers", 0.25),
    ("/customers/case-study-fintech", "Case study: a fintech doubles pipeline", 0.12),
    ("/blog/what-is-an-mql", "What is an MQL, really?", 0.5),
    ("/blog/speed-to-lead", "Speed to lead: why minutes matter", 0.45),
    ("/blog/lead-scoring-models", "Five lead scoring models compared", 0.4),
    ("/blog/bant-vs-meddic", "BANT vs MEDDIC", 0.3),
    ("/blog/revops-metrics", "RevOps metrics that matter", 0.3),
    ("/docs/getting-started", "Getting started", 0.12),
    ("/security", "Security and compliance", 0.08),
    ("/about", "About us", 0.15),
)
PRICING_PAGE = ("/pricing", "Pricing")
CAREERS_PAGE = ("/careers", "Careers")

CONTENT: tuple[tuple[str, str, str], ...] = (
    ("b2b-lead-scoring-playbook", "ebook", "The B2B Lead Scoring Playbook"),
    ("speed-to-lead-report", "report", "Speed to Lead: Response Times and Conversion"),
    ("state-of-revops-2026", "report", "The State of Revenue Operations 2026"),
    ("fintech-case-study", "case_study", "How a 200-person Fintech Doubled Pipeline"),
    ("lead-routing-template", "template", "Lead Routing Rules Template"),
    ("mql-sql-handoff-checklist", "checklist", "MQL to SQL Hand-off Checklist"),
)

WEBINAR_TOPICS = (
    "Pipeline Reviews That Work",
    "Lead Scoring Without Guesswork",
    "From MQL to Revenue in 30 Days",
    "Routing Leads in Minutes, Not Days",
    "Nurture Sequences That Convert",
    "RevOps Metrics Your Board Will Ask For",
)

# (utm_source, utm_medium, share, campaigns, search terms)
PAID_SOURCES: tuple[tuple[str, str, float, tuple[str, ...], tuple[str, ...]], ...] = (
    (
        "google",
        "cpc",
        0.45,
        ("search-brand", "search-lead-scoring", "search-competitors"),
        ("lead scoring software", "lead management tool", "lead routing", "b2b crm alternative"),
    ),
    ("linkedin", "paid_social", 0.3, ("linkedin-playbook-ebook", "linkedin-abm-software"), ()),
    ("bing", "cpc", 0.08, ("search-lead-scoring",), ("lead scoring software",)),
    ("capterra", "ppc", 0.07, ("capterra-listing",), ()),
    ("google", "display", 0.1, ("display-retargeting",), ()),
)
SOCIAL_SOURCES = (("linkedin", 0.6), ("twitter", 0.15), ("youtube", 0.15), ("facebook", 0.1))
SEARCH_REFERRERS = (
    ("https://www.google.com/", 0.8),
    ("https://www.bing.com/", 0.12),
    ("https://duckduckgo.com/", 0.08),
)
REVIEW_SITES = ("https://www.g2.com/products/pipewell", "https://www.capterra.com/p/pipewell")
EVENTS_FOR_IMPORT = ("revops-summit-booth", "partner-webinar-attendees", "saas-expo-badge-scans")
LOST_REASONS = (("no_decision", 0.3), ("price", 0.25), ("competitor", 0.25), ("timing", 0.2))

# Weekday weights for sign-ups and activity (Monday first), from Olist's first-contact dates.
WEEKDAY_WEIGHT = (0.187, 0.181, 0.186, 0.169, 0.144, 0.066, 0.066)

# Annual contract value in USD by company size: the smallest band buys the starter plan.
ACV_BY_SIZE: tuple[tuple[int, float], ...] = (
    (10, 3_000.0),
    (50, 6_000.0),
    (200, 12_000.0),
    (1000, 30_000.0),
    (5000, 60_000.0),
    (10**9, 110_000.0),
)
