"""A forms.yaml the capture and tracking tests share."""

from __future__ import annotations

from pathlib import Path

from leadflow.capture.config import FormsConfig, parse_forms
from leadflow.lifecycle.config import LIFECYCLE_FILE, parse_lifecycle

ORIGIN = "https://www.example.com"
FORM_KEY = "form_contact_us_1"
SITE_KEY = "site_www_0001"
CONSENT_TEXT = "Send me the monthly product newsletter. I can unsubscribe at any time."

FORMS_YAML = f"""\
sites:
  www:
    key: {SITE_KEY}
    origins: [{ORIGIN}]
forms:
  contact-us:
    key: {FORM_KEY}
    origins: [{ORIGIN}, http://127.0.0.1:8123]
    fields:
      email: contact.email
      first_name: contact.first_name
      last_name: contact.last_name
      company: account.name
      employees: account.employee_count
      budget: qualification.budget
      when: qualification.timing
      colour: property.favourite_colour
    required: [email]
    consent:
      field: newsletter
      text: "{CONSENT_TEXT}"
      required: true
      purpose: newsletter
    honeypot: website
    max_body: 4kb
    redirect: {ORIGIN}/thanks
    campaign: spring-launch
    rate_limit: {{per_ip: 3/minute, per_form: 100/minute}}
"""


def forms_config(workspace_root: Path) -> FormsConfig:
    lifecycle = parse_lifecycle((workspace_root / LIFECYCLE_FILE).read_text(), filename="x")
    return parse_forms(FORMS_YAML, lifecycle=lifecycle)
