"""Satellite points that stand alone (docs/architecture.md, "Satellite points").

- :mod:`.mirror`: at the main center, a standalone site's events applied once each, in order,
  to the main center's event log and live tables.
- :mod:`.replicator`: at the satellite, ``qms replicate`` ships its event log to the main
  center over HTTP, with retries, from where the main center says it is.
"""
