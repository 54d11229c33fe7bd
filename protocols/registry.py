"""The protocols trackgw speaks, by name."""

from __future__ import annotations

from .base import ProtocolSpec

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
