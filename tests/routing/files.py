"""Routing files shared by the routing tests."""

# Three Madrid reps in one team, a lead who is told of escalations, every SLA set.
ROUTING = """\
users:
  - {id: ana, name: Ana, email: ana@x.example, role: sales, team: emea, timezone: Europe/Madrid}
  - {id: bo, name: Bo, email: bo@x.example, role: sales, team: emea, timezone: Europe/Madrid}
  - {id: cy, name: Cy, email: cy@x.example, role: sales, team: emea, timezone: Europe/Madrid}
  - {id: lea, name: Lea, email: lea@x.example, role: admin}
teams:
  - {id: emea, lead: lea, escalation: notify_lead}
rules:
  - {name: everyone, team: emea}
sla:
  first_touch: 4h
  follow_up: 2d
  recycle_after: 14d
"""
