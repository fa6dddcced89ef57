"""The ``leadflow`` command line: thin adapters over the services."""
