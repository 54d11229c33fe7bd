"""Where device bytes come in: TCP, UDP, MQTT and HTTP listeners."""
