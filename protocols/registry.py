"""The protocols trackgw speaks, by name."""

from __future__ import annotations

from .base import DeviceKind, ProtocolSpec, Transport

# Filled in as protocol modules land; each module exports SPEC.
_SPECS: dict[str, ProtocolSpec] = {}


def register(spec: ProtocolSpec) -> ProtocolSpec:
    if spec.name in _SPECS:
        raise ValueError(f"protocol {spec.name!r} registered twice")
    _SPECS[spec.name] = spec
    return spec


def get(name: str) -> ProtocolSpec:
    """The spec for ``name``; ``KeyError`` names the known ones."""
    _load()
    try:
        return _SPECS[name]
    except KeyError:
        known = ", ".join(sorted(_SPECS))
        raise KeyError(f"unknown protocol {name!r} (known: {known})") from None


def names() -> list[str]:
    _load()
    return sorted(_SPECS)


def all_specs() -> list[ProtocolSpec]:
    _load()
    return [_SPECS[n] for n in sorted(_SPECS)]


def lookup(name: str) -> ProtocolSpec:
    """The spec for a name or one of its aliases (``msgpack``); ``KeyError`` otherwise."""
    _load()
    spec = _SPECS.get(name) or next((s for s in _SPECS.values() if name in s.aliases), None)
    if spec is None:
        return get(name)  # raises, naming the known ones
    return spec


def cli_names() -> list[str]:
    """Every name the command line accepts: the registry's and their aliases."""
    _load()
    return sorted({*_SPECS, *(a for s in _SPECS.values() for a in s.aliases)})


def kind_of(protocol: str) -> DeviceKind:
    """``phone`` or ``tag`` (an unknown protocol counts as a tag: the stricter plan limit)."""
    _load()
    spec = _SPECS.get(protocol)
    return spec.kind if spec is not None else "tag"


def phone_protocols() -> frozenset[str]:
    _load()
    return frozenset(name for name, spec in _SPECS.items() if spec.kind == "phone")


def listening(transport: Transport) -> list[tuple[str, ProtocolSpec]]:
    """(``[ports]`` key, spec) of every protocol with a port of its own on ``transport``."""
    return [
        (spec.port_keys[transport], spec) for spec in all_specs() if transport in spec.port_keys
    ]


def default_port(key: str) -> int:
    """The default of the ``[ports]`` key ``key`` (``gt06``, ``teltonika_udp``, ``osmand``)."""
    for spec in all_specs():
        if key in spec.port_keys.values():
            assert spec.default_port is not None
            return spec.default_port
    raise KeyError(f"no protocol listens on a port named {key!r}")


def mqtt_route(topic: str) -> tuple[str, str] | None:
    """(protocol, device key) of a device topic, by the specs' ``mqtt_topic`` layouts: the
    literal levels must match, the ``+`` levels (non-empty) joined by ``/`` are the device
    key. None for a topic no protocol publishes to."""
    parts = topic.split("/")
    for spec in _mqtt_specs():
        layout = spec.mqtt_topic
        assert layout is not None
        levels = layout.split("/")
        if len(levels) != len(parts):
            continue
        key: list[str] = []
        for want, got in zip(levels, parts, strict=True):
            if want == "+":
                if not got:
                    break
                key.append(got)
            elif want != got:
                break
        else:
            return spec.name, "/".join(key)
    return None


def _mqtt_specs() -> list[ProtocolSpec]:
    return [spec for spec in all_specs() if spec.mqtt_topic is not None]


_loaded = False


def _load() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    import importlib

    for module in _MODULES:
        try:
            spec = importlib.import_module(f"protocols.{module}").SPEC
        except ModuleNotFoundError as exc:
            if exc.name == f"protocols.{module}":
                continue  # not written yet
            raise
        _SPECS.setdefault(spec.name, spec)


_MODULES = (
    "gt06",
    "teltonika",
    "h02",
    "tk103",
    "watch",
    "osmand",
    "overland",
    "owntracks",
    "msgpack_phone",
)
