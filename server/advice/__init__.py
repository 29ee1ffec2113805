"""Live advice for the director: what to change at the counters now, and what it would change.

``playout.py`` and ``recommend.py`` are pure (a state in, proposals out); ``live.py`` reads the
engine's state and caches the answer per event sequence. See ``docs/advice.md``.
"""
