"""Lifecycle: stages and the moves between them, qualification criteria, conversion.

Pure parts: :mod:`~leadflow.lifecycle.config` reads ``lifecycle.yaml`` and
:mod:`~leadflow.lifecycle.engine` decides moves; storage-aware work is in
:mod:`~leadflow.lifecycle.service`.
"""
