"""The day ahead: arrivals forecast from earlier days, clerks needed, the roster's shortfall.

Pure modules (no Flask, no SQLite): ``forecast`` (history rows in, rates per service and half
hour out), ``erlang`` (traffic in, positions out), ``staffing`` (needs against the roster, the
cheapest fixes). ``check`` replays the planned day through the real engine (the simulator).
"""
