"""What the director reads on the dashboard, computed purely from the engine's figures and events:
charts of the day (``charts.py``), the per-counter overload flag (``overload.py``) and the log of
alerts raised and cleared (``alert_log.py``)."""
