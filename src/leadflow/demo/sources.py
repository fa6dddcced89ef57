"""How each person arrives: the touch (channel, campaign, UTM, referrer, landing page) and
what they did on arrival (the form they filled, the asset or webinar they signed up for)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime

from leadflow.contacts.inputs import TouchInput
from leadflow.demo import catalog
from leadflow.demo.timing import Webinar, Window

Asset = tuple[str, str, str]  # slug, kind, title


@dataclass(frozen=True)
class Entry:
    """A person's arrival: the touch to record and what happened on the way in."""

    touch: TouchInput
    form: str | None = None
    asset: Asset | None = None
    webinar: Webinar | None = None
    demo: bool = False  # the arrival form was a demo request


@dataclass(frozen=True)
class Context:
    """What every arrival may refer to: the window's webinars, partners and customers."""

    window: Window
    partners: tuple[str, ...]
    customer_domains: tuple[str, ...]


@dataclass(frozen=True)
class _Ask:
    rng: random.Random
    at: datetime
    intent: float
    ctx: Context


def entry(rng: random.Random, channel: str, at: datetime, intent: float, ctx: Context) -> Entry:
    """A realistic arrival through ``channel`` at ``at`` for someone with ``intent``."""
    return _BUILDERS[channel](_Ask(rng, at, intent, ctx))


def _touch(channel: str, at: datetime, path: str | None, **fields: str | None) -> TouchInput:
    landing = f"{catalog.SITE}{path}" if path is not None else None
    return TouchInput(channel=channel, occurred_at=at, landing_page=landing, **fields)


def _search_referrer(rng: random.Random, share: float) -> str | None:
    """A search engine for ``share`` of visits; the rest typed the address (direct)."""
    if rng.random() >= share:
        return None
    names = [r for r, _ in catalog.SEARCH_REFERRERS]
    return rng.choices(names, weights=[w for _, w in catalog.SEARCH_REFERRERS])[0]


def _web_form(ask: _Ask) -> Entry:
    demo = ask.rng.random() < 0.2 + 0.5 * ask.intent
    path = "/demo" if demo else "/contact"
    touch = _touch("web_form", ask.at, path, referrer=_search_referrer(ask.rng, 0.6))
    return Entry(touch, form="demo-request" if demo else "contact-us", demo=demo)


def _content_download(ask: _Ask) -> Entry:
    asset = ask.rng.choice(catalog.CONTENT)
    touch = _touch(
        "content_download",
        ask.at,
        f"/resources/{asset[0]}",
        campaign=f"content-{asset[0]}",
        referrer=_search_referrer(ask.rng, 0.7),
    )
    return Entry(touch, form=f"gated-{asset[0]}", asset=asset)


def _newsletter(ask: _Ask) -> Entry:
    path = ask.rng.choice([p for p, _, _ in catalog.PAGES if p.startswith("/blog/")])
    touch = _touch(
        "newsletter",
        ask.at,
        path,
        campaign="newsletter-signup",
        referrer=_search_referrer(ask.rng, 0.65),
    )
    return Entry(touch, form="newsletter-signup")


def _webinar(ask: _Ask) -> Entry:
    upcoming = [w for w in ask.ctx.window.webinars if w.at > ask.at]
    webinar = upcoming[0] if upcoming else ask.ctx.window.webinars[-1]
    from_social = ask.rng.random() < 0.35
    touch = _touch(
        "webinar",
        ask.at,
        f"/webinars/{webinar.slug}",
        campaign=webinar.slug,
        utm_source="linkedin" if from_social else None,
        utm_medium="social" if from_social else None,
        utm_campaign=webinar.slug if from_social else None,
        referrer="https://www.linkedin.com/" if from_social else None,
    )
    return Entry(touch, form="webinar-registration", webinar=webinar)


def _paid_ads(ask: _Ask) -> Entry:
    weights = [s[2] for s in catalog.PAID_SOURCES]
    source, medium, _, campaigns, terms = ask.rng.choices(catalog.PAID_SOURCES, weights=weights)[0]
    campaign = ask.rng.choice(campaigns)
    demo = ask.rng.random() < 0.15 + 0.4 * ask.intent
    asset = None if demo else ask.rng.choice(catalog.CONTENT)
    referrer = {"google": "https://www.google.com/", "bing": "https://www.bing.com/"}.get(
        source, f"https://www.{source}.com/"
    )
    touch = _touch(
        "paid_ads",
        ask.at,
        f"/lp/{campaign}",
        campaign=campaign,
        utm_source=source,
        utm_medium=medium,
        utm_campaign=campaign,
        utm_term=ask.rng.choice(terms) if terms else None,
        utm_content=ask.rng.choice(("ad-a", "ad-b", "ad-c")),
        referrer=referrer,
    )
    form = "demo-request" if demo else f"gated-{asset[0]}" if asset else None
    return Entry(touch, form=form, asset=asset, demo=demo)


def _social(ask: _Ask) -> Entry:
    names = [s for s, _ in catalog.SOCIAL_SOURCES]
    source = ask.rng.choices(names, weights=[w for _, w in catalog.SOCIAL_SOURCES])[0]
    asset = ask.rng.choice(catalog.CONTENT)
    native = source == "linkedin" and ask.rng.random() < 0.5
    campaign = f"{'linkedin-lead-gen' if native else 'social'}-{asset[0]}"
    touch = _touch(
        "social",
        ask.at,
        None if native else f"/resources/{asset[0]}",
        campaign=campaign,
        utm_source=source,
        utm_medium="social",
        utm_campaign=campaign,
        referrer="https://t.co/" if source == "twitter" else f"https://www.{source}.com/",
    )
    # LinkedIn's own lead-gen form hands the lead over without a visit to the site.
    return Entry(touch, form="linkedin-lead-gen" if native else f"gated-{asset[0]}", asset=asset)


def _email(ask: _Ask) -> Entry:
    asset = ask.rng.choice(catalog.CONTENT)
    source = ask.rng.choice(("revops-weekly", "saas-growth-digest", "b2b-marketing-brief"))
    campaign = f"co-marketing-{asset[0]}"
    touch = _touch(
        "email",
        ask.at,
        f"/resources/{asset[0]}",
        campaign=campaign,
        utm_source=source,
        utm_medium="email",
        utm_campaign=campaign,
    )
    return Entry(touch, form=f"gated-{asset[0]}", asset=asset)


def _referral(ask: _Ask) -> Entry:
    demo = ask.rng.random() < 0.4 + 0.4 * ask.intent
    if ask.rng.random() < 0.5:
        referrer, campaign = ask.rng.choice(catalog.REVIEW_SITES), "review-sites"
    else:
        referrer, campaign = (
            f"https://www.{ask.rng.choice(ask.ctx.customer_domains)}/",
            "customer-referral",
        )
    touch = _touch(
        "referral", ask.at, "/demo" if demo else "/", campaign=campaign, referrer=referrer
    )
    return Entry(touch, form="demo-request" if demo else "contact-us", demo=demo)


def _partner(ask: _Ask) -> Entry:
    partner = ask.rng.choice(ask.ctx.partners)
    touch = _touch(
        "partner",
        ask.at,
        "/partners/referral",
        campaign=f"partner-{partner}",
        utm_source=partner,
        utm_medium="partner",
        referrer=f"https://www.{partner}.example/",
    )
    return Entry(touch, form="partner-referral")


def _outbound(ask: _Ask) -> Entry:
    quarter = f"{ask.at.year}-q{(ask.at.month - 1) // 3 + 1}"
    segment = ask.rng.choice(("software", "fintech", "agencies", "services"))
    return Entry(_touch("outbound", ask.at, None, campaign=f"outbound-{segment}-{quarter}"))


def _import(ask: _Ask) -> Entry:
    return Entry(_touch("import", ask.at, None, campaign=ask.rng.choice(catalog.EVENTS_FOR_IMPORT)))


def _api(ask: _Ask) -> Entry:
    campaign = ask.rng.choice(("integration-marketplace", "free-trial-api"))
    return Entry(
        _touch("api", ask.at, None, campaign=campaign, utm_source="app"), form="free-trial"
    )


_BUILDERS = {
    "web_form": _web_form,
    "content_download": _content_download,
    "newsletter": _newsletter,
    "webinar": _webinar,
    "paid_ads": _paid_ads,
    "social": _social,
    "email": _email,
    "referral": _referral,
    "partner": _partner,
    "outbound": _outbound,
    "import": _import,
    "api": _api,
}
