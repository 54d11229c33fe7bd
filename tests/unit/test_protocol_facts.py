"""One source of protocol facts: settings, listeners, the CLI, device identity, the member API
and MQTT routing read ``ProtocolSpec`` through ``protocols.registry``."""

from __future__ import annotations

import dataclasses

from gateway import app, cli, config
from gateway.api.members import known_protocols
from gateway.listeners.mqtt import topic_route
from gateway.pipeline.identify import PHONE_PROTOCOLS, kind_of
from protocols import registry


def test_every_port_key_is_a_setting_with_the_registry_default() -> None:
    defaults = {f.name: f.default for f in dataclasses.fields(config.PortSettings)}
    keys = [key for spec in registry.all_specs() for key in spec.port_keys.values()]
    assert sorted(keys) == sorted(
        ["gt06", "teltonika", "teltonika_udp", "h02", "tk103", "watch", "osmand"]
    )
    for spec in registry.all_specs():
        for key in spec.port_keys.values():
            assert defaults[key] == spec.default_port, key
    # the env names stay what they were (tests/unit/test_config.py checks the rest)
    s = config.load(env={"TRACKGW_PORTS_TELTONIKA_UDP": "6000"})
    assert s.ports.teltonika_udp == 6000


def test_listeners_and_identity_follow_the_specs() -> None:
    tcp = {spec.name for spec in registry.all_specs() if "tcp" in spec.transports}
    assert set(app.TCP_PORTS) == tcp == {"gt06", "teltonika", "h02", "tk103", "watch"}
    assert [key for key, _ in registry.listening("udp")] == ["teltonika_udp"]
    assert {"osmand", "overland", "owntracks", "msgpack_phone"} == PHONE_PROTOCOLS
    assert {kind_of(n) for n in ("gt06", "watch", "nonsense")} == {"tag"}
    assert kind_of("overland") == "phone"
    assert known_protocols() == frozenset(registry.names())


def test_mqtt_topics_and_http_paths() -> None:
    assert topic_route("owntracks/alice/phone") == ("owntracks", "alice/phone")
    assert topic_route("trackgw/phones/bob/tab") == ("msgpack_phone", "bob/tab")
    for topic in ("owntracks/alice/phone/cmd", "owntracks//phone", "trackgw/phones/x", "x/y/z"):
        assert topic_route(topic) is None
    s = config.Settings()
    assert s.mqtt.owntracks_topic == registry.get("owntracks").mqtt_topic == "owntracks/+/+"
    assert s.mqtt.msgpack_topic == "trackgw/phones/+/+"
    assert registry.get("overland").http_path == "/overland"


def test_cli_choices_are_the_registry_names_and_aliases() -> None:
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    decode = sub.choices["decode"]  # type: ignore[index]
    protocol = next(a for a in decode._actions if a.dest == "protocol")
    assert protocol.choices is not None
    assert set(protocol.choices) == {*registry.names(), "msgpack", "auto"}
    assert registry.lookup("msgpack").name == "msgpack_phone"
