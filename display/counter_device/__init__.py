"""The counter device: the number a counter serves, the clerk's buttons, the rating keypad.

- :mod:`.config`   the TOML configuration (strict pydantic models)
- :mod:`.texts`    what the device says, in Vietnamese
- :mod:`.screen`   where the view goes: the terminal, a PNG file (for an SPI/HDMI screen), none
- :mod:`.debounce` one press per window, on the monotonic clock
- :mod:`.buttons`  gpiozero buttons and keypad, handing presses to a queue
- :mod:`.state`    the pure logic: what to show, what to send
- :mod:`.service`  MQTT in and out, one thread owning the state and the screen
- :mod:`.cli`      ``qms-counter``

Importing this package starts nothing: no GPIO, no thread, no connection.
"""
