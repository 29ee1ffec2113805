"""The wall-display agent: keeps the kiosk browser showing the queue page.

- :mod:`.config`  the TOML configuration (strict pydantic models)
- :mod:`.backoff` restart delays that grow while the browser keeps crashing
- :mod:`.browser` starts, watches and restarts the browser process (``cage -- chromium``)
- :mod:`.probe`   the server's ``/healthz``: reachable or not, and since when
- :mod:`.service` the agent: browser + probe + MQTT presence and health
- :mod:`.cli`     ``qms-display-agent``

Importing this package starts nothing: no process, no thread, no connection.
"""
