"""What every role (server, kiosk, display, robot) shares: the clock, the errors and the
MQTT wire contract. Nothing here opens a connection or reads the environment on import."""
