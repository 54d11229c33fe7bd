"""Settings: a TOML file, then ``TRACKGW_*`` environment overrides, validated once.

The only module that reads the environment. Every key has a default that points at the
project's local services (deploy/local/up), so ``trackgw serve`` works with no file at all.
An override is ``TRACKGW_<SECTION>_<KEY>`` in upper case, e.g. ``TRACKGW_DATABASE_URL``,
``TRACKGW_HTTP_PORT``, ``TRACKGW_PORTS_GT06`` (0 disables a listener). README lists them all.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from protocols import registry


class ConfigError(Exception):
    """Every problem found in the settings, reported at once."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid settings:\n  " + "\n  ".join(problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class DatabaseSettings:
    url: str = "postgresql://trackgw@127.0.0.1:55432/trackgw"
    pool_min: int = 2
    pool_max: int = 8
    #: the writer's connection cancels a statement that runs longer (then retries the batch)
    statement_timeout_ms: int = 15_000


@dataclass(frozen=True, slots=True)
class MqttSettings:
    host: str = "127.0.0.1"
    port: int = 51883
    username: str = "trackgw-gateway"
    password: str = "gateway-dev-secret"
    #: the ingestion client's id: a persistent session keeps QoS 1 messages while we are away
    client_id: str = "trackgw-ingest"
    #: subscribe through a shared subscription group (one gateway process per core)
    shared_group: str = ""
    owntracks_topic: str = registry.get("owntracks").mqtt_topic or ""
    msgpack_topic: str = registry.get("msgpack_phone").mqtt_topic or ""
    alerts_topic: str = "circles/{circle_id}/alerts"
    live_topic: str = "circles/{circle_id}/live"
    keepalive_s: int = 30
    #: the broker's dynamic security admin: the gateway provisions members' clients with it
    admin_username: str = "trackgw-admin"
    admin_password: str = "admin-dev-secret"
    #: the broker address members' apps are told to use (default: host and port above)
    public_host: str = ""
    public_port: int = 0


#: the admin token's default: refused on any bind but loopback
DEV_ADMIN_TOKEN = "dev-admin-token"


@dataclass(frozen=True, slots=True)
class HttpSettings:
    host: str = "127.0.0.1"
    #: API, /healthz, /readyz, /metrics, Stripe webhook, OwnTracks/Overland HTTP ingestion
    port: int = 8088
    admin_token: str = DEV_ADMIN_TOKEN
    stripe_webhook_secret: str = "whsec_dev"


@dataclass(frozen=True, slots=True)
class PortSettings:
    """TCP (and Teltonika UDP) ports trackers are configured for; 0 disables one."""

    host: str = "127.0.0.1"
    auto: int = 5000
    # one key per protocol port (ProtocolSpec.port_keys); the defaults are the registry's
    gt06: int = registry.default_port("gt06")
    teltonika: int = registry.default_port("teltonika")
    teltonika_udp: int = registry.default_port("teltonika_udp")
    h02: int = registry.default_port("h02")
    tk103: int = registry.default_port("tk103")
    watch: int = registry.default_port("watch")
    osmand: int = registry.default_port("osmand")
    reuse_port: bool = False


@dataclass(frozen=True, slots=True)
class LimitSettings:
    #: garbage bytes (outside any frame) a TCP connection may send before it is closed; each
    #: protocol's framer bounds the size of a frame itself
    max_garbage_bytes: int = 4096
    idle_timeout_s: float = 600.0
    max_connections_per_ip: int = 200
    #: rejected frames tolerated on one connection before it is closed
    max_errors_per_connection: int = 3
    max_http_body_bytes: int = 1_048_576
    #: open TCP device connections across every TCP listener (beside the per-IP cap)
    max_connections: int = 20_000
    #: an HTTP client must send a whole request head within this many seconds of connecting
    #: or of its previous answer (aiohttp's keep-alive timer, which no byte resets)
    http_header_timeout_s: float = 15.0
    #: ... and its body within this many seconds after the head
    http_body_timeout_s: float = 30.0
    #: MQTT messages read but not yet routed; past this the gateway stops reading the socket
    mqtt_inbox_max: int = 5000


@dataclass(frozen=True, slots=True)
class PipelineSettings:
    #: positions per database transaction
    batch_max: int = 5000
    #: a position waits at most this long for its batch
    batch_max_age_ms: int = 25
    #: items queued between listeners and the writer; full = listeners stop reading
    queue_max: int = 50_000
    #: after a failed write, wait this long before retrying (doubling, capped at 5 s)
    retry_initial_ms: int = 200
    #: the intake is also bounded by the bytes its data came in as (whichever bound is hit
    #: first makes listeners wait)
    queue_max_bytes: int = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class FilterSettings:
    drop_invalid: bool = True
    drop_null_island: bool = True
    #: fixes further in the future than this are dropped (device clock wrong)
    future_tolerance_s: float = 300.0
    drop_duplicates: bool = True
    #: implied speed between consecutive fixes above this is a jump (0 disables)
    max_speed_kmh: float = 1200.0
    #: this many jump-dropped fixes in a row that are consistent with each other re-anchor
    #: the filter on the newest of them (it is accepted)
    jump_reanchor_fixes: int = 3


@dataclass(frozen=True, slots=True)
class DeviceSettings:
    #: register unknown devices into the holding account instead of refusing them
    auto_register: bool = False
    holding_account: str = "holding"
    #: unknown ids remembered as unknown (per directory version; least recently used dropped)
    negative_cache_max: int = 100_000
    #: database lookups of ids not in the directory, per second (a token bucket): the
    #: directory learns new devices by NOTIFY, a lookup only covers that NOTIFY's delay
    #: (e.g. a fleet provisioned in bulk that connects at once); past the bucket an id not
    #: in the directory is unknown at once
    lookups_per_s: float = 50.0
    lookups_burst: int = 200


@dataclass(frozen=True, slots=True)
class SupervisionSettings:
    #: after a supervised task died, /readyz reports failing this long before the drain
    #: starts and the process exits non-zero (so a load balancer sees it first)
    fail_grace_s: float = 1.0
    #: TESTS ONLY (fault injection): the name of a supervised task to kill with an injected
    #: exception ``fault_after_s`` after start ("" = none); see docs/architecture.md
    fault_task: str = ""
    fault_after_s: float = 0.5


@dataclass(frozen=True, slots=True)
class WebSettings:
    """The live page at ``/``."""

    #: the base map's tile URL template (e.g. ``https://tiles.example/{z}/{x}/{y}.png``);
    #: empty: no tiles, places, markers and tracks on a plain background with a scale
    tile_url: str = ""
    tile_attribution: str = ""
    #: signs the short-lived live-stream tickets browsers use; empty: a random secret per
    #: process (set one shared value when several gateway processes serve one site)
    ticket_secret: str = ""
    #: a device's position goes out on a circle's live stream at most this often (the newest
    #: fix is held and sent when the interval has passed, never dropped)
    live_interval_s: float = 1.0
    #: events a live reader may fall behind before it is dropped
    live_reader_queue: int = 256
    #: recent events kept per circle so a reconnecting reader resumes without gaps
    live_ring_size: int = 1024
    #: the kernel's send buffer for one live reader's socket (bounds what a stalled reader holds)
    live_send_buffer_bytes: int = 65536


@dataclass(frozen=True, slots=True)
class ApiSettings:
    """The member API (/v1): token lifetimes and rate limits (per process)."""

    #: a member token's lifetime unless asked shorter
    token_ttl_days: int = 30
    invite_ttl_days: int = 7
    #: how long the code mailed by DELETE /v1/me stays valid
    deletion_code_ttl_s: int = 3600
    #: requests per second per member token (a bucket of ``token_burst``); 429 beyond
    token_rate_per_s: float = 10.0
    token_burst: int = 60
    #: failed sign-ins per account and per address within ``signin_window_s``; 429 beyond
    signin_failures: int = 5
    signin_window_s: float = 900.0
    #: unauthenticated requests (sign-up, sign-in) per second per address
    anonymous_rate_per_s: float = 2.0
    anonymous_burst: int = 30


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    """Where the gateway sends email (account deletion codes)."""

    host: str = "127.0.0.1"
    port: int = 25
    sender: str = "trackgw@localhost"
    username: str = ""
    password: str = ""
    #: STARTTLS after connecting (port 587); ``tls`` for implicit TLS (port 465)
    starttls: bool = False
    tls: bool = False
    timeout_s: float = 10.0


@dataclass(frozen=True, slots=True)
class CommandSettings:
    """Commands to devices (docs/protocols.md, "Commands")."""

    #: a command not delivered within this long (the device did not connect) expires
    expiry_s: int = 3600
    #: the longest expiry a caller may ask for
    max_expiry_s: int = 7 * 86400
    #: how often the dispatcher looks for due and expired commands without being woken
    poll_s: float = 1.0


@dataclass(frozen=True, slots=True)
class NotifySettings:
    """Notifications (docs/notifications.md): the outbox's delivery worker, the device watch
    (tracking stopped / back online), phone battery low, the billing notices job."""

    #: the live page linked from every email
    live_url: str = "http://127.0.0.1:8088/"
    #: the delivery worker: rows claimed at once, how long a claim holds (a process that died
    #: holding one frees it after this), attempts before a row is dead-lettered, backoff
    batch: int = 100
    poll_s: float = 2.0
    lease_s: float = 60.0
    max_attempts: int = 12
    retry_initial_s: float = 5.0
    retry_max_s: float = 600.0
    #: a device with no report for longer than this is "tracking stopped" (per device:
    #: devices.expected_interval_s); tags send every 1-10 min moving and at least hourly
    #: heartbeats parked, phones in OwnTracks' significant-changes mode can be quiet for hours
    tag_interval_s: int = 7200
    phone_interval_s: int = 21600
    #: an OwnTracks ``lwt`` (the broker saw the phone's connection die) makes its "tracking
    #: stopped" due this long after at the latest (phones drop the connection in the
    #: background routinely: the hint shortens the wait, a report cancels it)
    lwt_grace_s: int = 900
    #: how often the watch and the scheduled jobs look for due work
    watch_tick_s: float = 15.0
    #: the geofence timer: a pending enter/exit of a device that went silent is confirmed by
    #: time (geofence.confirm_due) this often, for instants this far behind now (a fix still
    #: in flight must not be older); 0 turns the timer off
    confirm_every_s: float = 15.0
    confirm_settle_s: float = 5.0
    #: phone battery low at or below ``battery_low_pct``; told again only after it has been
    #: back at ``battery_rearm_pct`` or above (hysteresis: a level at the threshold is one alert)
    battery_low_pct: float = 15.0
    battery_rearm_pct: float = 25.0
    #: billing notice kinds not sent (Stripe's own emails may already say it), comma-separated:
    #: renewal_reminder, price_change, payment_failed, trial_ending, ended, withdrawal_confirmed
    billing_off: str = ""
    #: how often the billing notices job and retention run (database-scheduled; retention
    #: first runs one period after the first start; 0 turns it off: an operator's own timer)
    billing_every_s: float = 600.0
    retention_every_s: float = 86400.0


@dataclass(frozen=True, slots=True)
class Settings:
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    mqtt: MqttSettings = field(default_factory=MqttSettings)
    http: HttpSettings = field(default_factory=HttpSettings)
    ports: PortSettings = field(default_factory=PortSettings)
    limits: LimitSettings = field(default_factory=LimitSettings)
    pipeline: PipelineSettings = field(default_factory=PipelineSettings)
    filters: FilterSettings = field(default_factory=FilterSettings)
    devices: DeviceSettings = field(default_factory=DeviceSettings)
    api: ApiSettings = field(default_factory=ApiSettings)
    smtp: SmtpSettings = field(default_factory=SmtpSettings)
    supervision: SupervisionSettings = field(default_factory=SupervisionSettings)
    web: WebSettings = field(default_factory=WebSettings)
    commands: CommandSettings = field(default_factory=CommandSettings)
    notify: NotifySettings = field(default_factory=NotifySettings)
    log_level: str = "INFO"
    log_format: str = "json"


def default_config_path(explicit: str | None, env: Mapping[str, str]) -> Path | None:
    if explicit:
        return Path(explicit)
    if env.get("TRACKGW_CONFIG"):
        return Path(env["TRACKGW_CONFIG"])
    local = Path("trackgw.toml")
    return local if local.is_file() else None


def load(path: str | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Read the file (if any) and the environment; raise ``ConfigError`` listing every problem."""
    env = os.environ if env is None else env
    problems: list[str] = []
    data: dict[str, Any] = {}
    file = default_config_path(path, env)
    if file is not None:
        try:
            data = tomllib.loads(file.read_text())
        except FileNotFoundError:
            problems.append(f"config file {str(file)!r} not found")
        except tomllib.TOMLDecodeError as exc:
            problems.append(f"config file {str(file)!r}: {exc}")
    settings: Settings = _build(Settings, data, "", env, problems)
    problems.extend(_validate(settings))
    if problems:
        raise ConfigError(problems)
    return settings


def _build(
    cls: type[Any],
    data: Mapping[str, Any],
    prefix: str,
    env: Mapping[str, str],
    problems: list[str],
) -> Any:
    hints = typing.get_type_hints(cls)
    known = {f.name for f in fields(cls)}
    for key in data:
        if key not in known:
            problems.append(f"unknown setting {(prefix + key)!r}")
    values: dict[str, Any] = {}
    for f in fields(cls):
        hint = hints[f.name]
        dotted = f"{prefix}{f.name}"
        if dataclasses.is_dataclass(hint):
            section = data.get(f.name, {})
            if not isinstance(section, Mapping):
                problems.append(f"{dotted} must be a table")
                section = {}
            values[f.name] = _build(hint, section, f"{dotted}.", env, problems)  # type: ignore[arg-type]
            continue
        env_key = "TRACKGW_" + dotted.replace(".", "_").upper()
        if env_key in env:
            raw: Any = env[env_key]
            source = env_key
        elif f.name in data:
            raw = data[f.name]
            source = dotted
        else:
            continue
        try:
            values[f.name] = _coerce(raw, hint)
        except ValueError as exc:
            problems.append(f"{source}: {exc}")
    return cls(**values)


def _coerce(raw: Any, hint: Any) -> Any:
    if isinstance(hint, types.UnionType):
        hint = next(h for h in typing.get_args(hint) if h is not type(None))
    if hint is bool:
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in {"1", "true", "yes", "on"}:
            return True
        if text in {"0", "false", "no", "off"}:
            return False
        raise ValueError(f"expected true or false, got {raw!r}")
    if hint is int:
        if isinstance(raw, bool):
            raise ValueError(f"expected an integer, got {raw!r}")
        try:
            return int(raw)
        except (TypeError, ValueError):
            raise ValueError(f"expected an integer, got {raw!r}") from None
    if hint is float:
        try:
            return float(raw)
        except (TypeError, ValueError):
            raise ValueError(f"expected a number, got {raw!r}") from None
    if hint is str:
        if not isinstance(raw, str):
            raise ValueError(f"expected a string, got {raw!r}")
        return raw
    raise ValueError(f"unsupported setting type {hint!r}")


#: the secrets a gateway reachable from other hosts must have set: (setting, default)
SECRETS = (
    ("http.admin_token", HttpSettings().admin_token),
    ("http.stripe_webhook_secret", HttpSettings().stripe_webhook_secret),
    ("mqtt.password", MqttSettings().password),
    ("mqtt.admin_password", MqttSettings().admin_password),
)
#: what the example file and documentation put where a secret belongs
_PLACEHOLDER = re.compile(
    r"change.?me|replace.?me|placeholder|example|^(secret|password|token|todo|x+)$|^<.*>$|\.\.\.",
    re.IGNORECASE,
)


def is_loopback(host: str) -> bool:
    """True for an address only this machine can reach (127.0.0.0/8, ::1, ``localhost``)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip()).is_loopback
    except ValueError:
        return False  # a host name (or "", every address): assume it is reachable


def weak_secret(value: str, default: str) -> str | None:
    """Why ``value`` is no secret (empty, the built-in default, a placeholder), or None."""
    if not value.strip():
        return "is empty"
    if value == default:
        return "is the built-in development default"
    if _PLACEHOLDER.search(value):
        return f"is a placeholder ({value!r})"
    return None


def _secret_problems(s: Settings) -> list[str]:
    """A gateway bound to a non-loopback address refuses to start with a weak secret."""
    exposed = [
        f"{name} = {host!r}"
        for name, host in (("http.host", s.http.host), ("ports.host", s.ports.host))
        if not is_loopback(host)
    ]
    if not exposed:
        return []
    problems = []
    for dotted, default in SECRETS:
        section, key = dotted.split(".")
        why = weak_secret(getattr(getattr(s, section), key), default)
        if why is not None:
            env_key = "TRACKGW_" + dotted.replace(".", "_").upper()
            problems.append(
                f"{dotted} {why}: not allowed when listening beyond loopback"
                f" ({', '.join(exposed)}); set a secret in {dotted} or {env_key}"
            )
    return problems


def _validate(s: Settings) -> list[str]:
    problems = _secret_problems(s)
    for name in ("auto", "gt06", "teltonika", "teltonika_udp", "h02", "tk103", "watch", "osmand"):
        port = getattr(s.ports, name)
        if not 0 <= port <= 65535:
            problems.append(f"ports.{name}: {port} is not a port number (0 disables)")
    if not 1 <= s.http.port <= 65535:
        problems.append(f"http.port: {s.http.port} is not a port number")
    if s.pipeline.batch_max < 1:
        problems.append("pipeline.batch_max must be at least 1")
    if s.pipeline.queue_max < s.pipeline.batch_max:
        problems.append("pipeline.queue_max must be at least pipeline.batch_max")
    if s.pipeline.queue_max_bytes < 1:
        problems.append("pipeline.queue_max_bytes must be at least 1")
    if s.limits.max_garbage_bytes < 0:
        problems.append("limits.max_garbage_bytes must not be negative")
    for name in ("max_connections", "mqtt_inbox_max"):
        if getattr(s.limits, name) < 1:
            problems.append(f"limits.{name} must be at least 1")
    for name in ("idle_timeout_s", "http_header_timeout_s", "http_body_timeout_s"):
        if not getattr(s.limits, name) > 0:
            problems.append(f"limits.{name} must be more than 0")
    if s.log_format not in {"json", "text"}:
        problems.append(f"log_format must be 'json' or 'text', got {s.log_format!r}")
    if s.api.token_ttl_days < 1 or s.api.invite_ttl_days < 1 or s.api.deletion_code_ttl_s < 1:
        problems.append("api: token, invite and deletion code lifetimes must be positive")
    if s.api.token_rate_per_s <= 0 or s.api.token_burst < 1 or s.api.signin_failures < 1:
        problems.append("api: rate limits must be positive")
    if not 1 <= s.smtp.port <= 65535:
        problems.append(f"smtp.port: {s.smtp.port} is not a port number")
    if not s.database.url.startswith(("postgresql://", "postgres://")):
        problems.append("database.url must be a postgresql:// URL")
    return problems
