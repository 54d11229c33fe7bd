"""Broker access: who may publish and read what on the MQTT broker (docs/mqtt.md)."""
