"""The data behind the import mapping presets: header names and lead-source values.

Keys of ``AUTO_COLUMNS`` and ``CHANNEL_VALUES`` are compared after
:func:`leadflow.contacts.mapping.header_key` (lowercase, letters and digits only), so one
entry covers ``First Name``, ``first_name`` and ``FIRSTNAME``.
"""

from __future__ import annotations

from collections.abc import Mapping

# The parts of a touch a row may give; ``first_touch_*`` and ``last_touch_*`` columns (as
# ``export`` writes them) add its time and idempotency key.
TOUCH_PARTS = (
    "channel",
    "campaign",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_term",
    "utm_content",
    "referrer",
    "landing_page",
)
STORED_TOUCH_PARTS = (*TOUCH_PARTS, "at", "key")
STORED_TOUCH_FIELDS = tuple(
    f"{which}_touch_{part}" for which in ("first", "last") for part in STORED_TOUCH_PARTS
)


def _names(**groups: tuple[str, ...]) -> dict[str, str]:
    return {name: target for target, names in groups.items() for name in names}


AUTO_COLUMNS: Mapping[str, str] = _names(
    email=("email", "emailaddress", "mail", "workemail", "businessemail", "primaryemail"),
    other_email=("secondaryemail", "personalemail", "otheremail", "alternateemail"),
    phone=("phone", "phonenumber", "telephone", "tel", "workphone", "businessphone"),
    other_phone=("mobile", "mobilephone", "mobilephonenumber", "cell", "cellphone", "otherphone"),
    external_id=("externalid", "id", "recordid", "contactid", "leadid", "crmid", "customerid"),
    anonymous_id=("anonymousid", "visitorid", "cookieid"),
    other_identities=("otheridentities",),
    first_name=("firstname", "givenname", "forename", "first"),
    last_name=("lastname", "surname", "familyname", "last"),
    title=("title", "jobtitle", "position", "role", "jobrole"),
    seniority=("seniority", "senioritylevel"),
    company=("company", "companyname", "organization", "organisation", "accountname", "employer"),
    country=("country", "countryregion", "countrycode"),
    timezone=("timezone", "tz", "ianatimezone"),
    language=("language", "lang", "preferredlanguage", "locale"),
    properties=("properties",),
    website=("website", "websiteurl", "domain", "companydomain", "companywebsite", "url", "web"),
    industry=("industry", "sector", "vertical"),
    employees=("employees", "numberofemployees", "employeecount", "companysize", "headcount"),
    annual_revenue=("annualrevenue", "revenue", "companyrevenue"),
    channel=("leadsource", "source", "channel", "originalsource", "acquisitionchannel"),
    campaign=("campaign", "campaignname"),
    utm_source=("utmsource",),
    utm_medium=("utmmedium",),
    utm_campaign=("utmcampaign",),
    utm_term=("utmterm",),
    utm_content=("utmcontent",),
    referrer=("referrer", "referer", "referringsite", "referringurl"),
    landing_page=("landingpage", "landingpageurl"),
    created_at=(
        "created",
        "createdat",
        "createddate",
        "createdate",
        "datecreated",
        "createdon",
        "signupdate",
    ),
) | {field.replace("_", ""): field for field in STORED_TOUCH_FIELDS}


# The columns of a HubSpot contacts export (Contacts > Export, "all properties").
HUBSPOT_COLUMNS: Mapping[str, str] = {
    "Record ID": "external_id",
    "Contact ID": "external_id",  # older exports
    "First Name": "first_name",
    "Last Name": "last_name",
    "Email": "email",
    "Phone Number": "phone",
    "Mobile Phone Number": "other_phone",
    "Job Title": "title",
    "Company Name": "company",
    "Website URL": "website",
    "Industry": "industry",
    "Number of Employees": "employees",
    "Annual Revenue": "annual_revenue",
    "Country/Region": "country",
    "Time Zone": "timezone",
    "Preferred language": "language",
    "Original Source": "channel",
    "Original Source Drill-Down 1": "properties.source_detail_1",
    "Original Source Drill-Down 2": "properties.source_detail_2",
    "First Page Seen": "landing_page",
    "First Referring Site": "referrer",
    "Create Date": "created_at",
    "Lifecycle Stage": "properties.hubspot_lifecycle_stage",
    "Lead Status": "properties.hubspot_lead_status",
    "Contact owner": "properties.hubspot_owner",
}

# Salesforce Lead object fields, by API name (a report or Data Loader export).
SALESFORCE_COLUMNS: Mapping[str, str] = {
    "Id": "external_id",
    "FirstName": "first_name",
    "LastName": "last_name",
    "Email": "email",
    "Phone": "phone",
    "MobilePhone": "other_phone",
    "Company": "company",
    "Title": "title",
    "LeadSource": "channel",
    "Industry": "industry",
    "NumberOfEmployees": "employees",
    "AnnualRevenue": "annual_revenue",
    "Country": "country",
    "CountryCode": "country",
    "Website": "website",
    "CreatedDate": "created_at",
    "Status": "properties.salesforce_status",
    "Rating": "properties.salesforce_rating",
    "OwnerId": "properties.salesforce_owner_id",
}

# Lead-source values -> leadflow channels. Values not listed fall back on the default
# channel (``import``), and the original value is kept as the contact's ``lead_source``.
CHANNEL_VALUES: Mapping[str, str] = {
    **{code.replace("_", ""): code for code in ("web_form", "paid_ads", "content_download")},
    **{
        code: code
        for code in ("newsletter", "webinar", "social", "email", "referral", "partner", "api")
    },
    "outbound": "outbound",
    "import": "import",
    # HubSpot "Original Source" (internal values and labels compare alike)
    "organicsearch": "web_form",
    "directtraffic": "web_form",
    "paidsearch": "paid_ads",
    "paidsocial": "paid_ads",
    "emailmarketing": "email",
    "referrals": "referral",
    "aireferrals": "referral",
    "socialmedia": "social",
    "organicsocial": "social",
    "offline": "import",
    "offlinesources": "import",
    "othercampaigns": "import",
    # Salesforce LeadSource picklist
    "web": "web_form",
    "partnerreferral": "partner",
    "purchasedlist": "import",
    "other": "import",
    # An inbound call has no channel of its own; it arrives as an import with its source kept.
    "phoneinquiry": "import",
    "advertisement": "paid_ads",
    "employeereferral": "referral",
    "externalreferral": "referral",
    "wordofmouth": "referral",
    "seminarinternal": "webinar",
    "seminarpartner": "partner",
    # Common spreadsheet words
    "website": "web_form",
    "webform": "web_form",
    "form": "web_form",
    "contactform": "web_form",
    "organic": "web_form",
    "seo": "web_form",
    "direct": "web_form",
    "subscription": "newsletter",
    "ebook": "content_download",
    "whitepaper": "content_download",
    "download": "content_download",
    "linkedin": "social",
    "facebook": "social",
    "twitter": "social",
    "instagram": "social",
    "ppc": "paid_ads",
    "cpc": "paid_ads",
    "googleads": "paid_ads",
    "adwords": "paid_ads",
    "ads": "paid_ads",
    "coldcall": "outbound",
    "coldemail": "outbound",
    "prospecting": "outbound",
    "integration": "api",
}
