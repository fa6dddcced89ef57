"""Routing: owners and teams, assignment rules, business-hours SLAs and tasks.

Pure parts (no storage): :mod:`~leadflow.routing.calendar` counts business time,
:mod:`~leadflow.routing.config` reads ``routing.yaml``, :mod:`~leadflow.routing.assign`
picks an owner. Storage-aware work is in :mod:`~leadflow.routing.service`.
"""
