"""The reference robot greeter: a Python robot that takes tasks from the server over MQTT.

- :mod:`.config`  the TOML configuration (strict pydantic models): spots, counters, battery
- :mod:`.phrases` what the robot says, in Vietnamese
- :mod:`.speech`  its voice: the announcer's speech worker (pyttsx3 + espeak-ng) with free text
- :mod:`.motion`  time (real or virtual), the kinematic model and the battery
- :mod:`.api`     the server's REST API: issuing a ticket on a citizen's behalf
- :mod:`.robot`   the task executor: state, battery, charging, telemetry and results
- :mod:`.service` MQTT in and out
- :mod:`.cli`     ``qms-robot``

Motion is simulated (no motor driver): the robot "travels" between named spots at a
configured speed, in real time on a device, in virtual time in tests. Importing this
package starts nothing: no engine, no thread, no connection.
"""
