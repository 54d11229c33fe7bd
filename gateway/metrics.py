"""Prometheus metrics (prometheus-client), all in one registry the app serves at /metrics."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

frames_received = Counter(
    "trackgw_frames_received_total",
    "Messages decoded from devices",
    ["protocol"],
    registry=REGISTRY,
)
frames_rejected = Counter(
    "trackgw_frames_rejected_total",
    "Frames or messages rejected, by reason",
    ["protocol", "reason"],
    registry=REGISTRY,
)
garbage_bytes = Counter(
    "trackgw_garbage_bytes_total",
    "Bytes skipped outside any frame while resynchronising",
    ["protocol"],
    registry=REGISTRY,
)
positions_received = Counter(
    "trackgw_positions_received_total",
    "Positions decoded",
    ["protocol"],
    registry=REGISTRY,
)
positions_stored = Counter(
    "trackgw_positions_stored_total",
    "Positions written (after dedupe)",
    registry=REGISTRY,
)
positions_filtered = Counter(
    "trackgw_positions_filtered_total",
    "Positions dropped by a filter (still acknowledged)",
    ["filter"],
    registry=REGISTRY,
)
devices_refused = Counter(
    "trackgw_devices_refused_total",
    "Messages from unknown, inactive or over-limit devices",
    ["protocol", "reason"],
    registry=REGISTRY,
)
connections_open = Gauge(
    "trackgw_connections_open",
    "Open device connections",
    ["listener"],
    registry=REGISTRY,
)
connections_refused = Counter(
    "trackgw_connections_refused_total",
    "Connections refused or closed by a limit",
    ["listener", "reason"],
    registry=REGISTRY,
)
queue_depth = Gauge(
    "trackgw_queue_positions",
    "Positions waiting for the writer",
    registry=REGISTRY,
)
queue_bound = Gauge(
    "trackgw_queue_positions_max",
    "Bound of the writer queue (listeners pause when full)",
    registry=REGISTRY,
)
batches = Counter("trackgw_batches_total", "Batches committed", registry=REGISTRY)
batch_failures = Counter(
    "trackgw_batch_failures_total",
    "Batch transactions that failed and were retried",
    registry=REGISTRY,
)
batch_size = Histogram(
    "trackgw_batch_positions",
    "Positions per committed batch",
    buckets=(1, 10, 50, 100, 500, 1000, 2000, 5000, 10000),
    registry=REGISTRY,
)
commit_latency = Histogram(
    "trackgw_receive_to_commit_seconds",
    "From a message's arrival to its batch's commit",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10),
    registry=REGISTRY,
)
events_stored = Counter(
    "trackgw_events_total",
    "Events stored",
    ["kind"],
    registry=REGISTRY,
)
alerts_published = Counter(
    "trackgw_alerts_published_total",
    "Alerts published to circles",
    ["kind"],
    registry=REGISTRY,
)
mqtt_connected = Gauge(
    "trackgw_mqtt_connected",
    "1 while the MQTT client is connected",
    ["client"],
    registry=REGISTRY,
)
entitlement_snapshot_age = Gauge(
    "trackgw_entitlement_snapshot_age_seconds",
    "Age of the entitlement snapshot in use",
    registry=REGISTRY,
)

dead_letters = Counter(
    "trackgw_dead_letters_total",
    "Rows the database refused, stored in dead_letters (the rest of their batch committed)",
    ["reason"],
    registry=REGISTRY,
)
queue_bytes = Gauge(
    "trackgw_queue_bytes",
    "Bytes of device data waiting for the writer",
    registry=REGISTRY,
)
device_lookups = Counter(
    "trackgw_device_lookups_total",
    "Ids not in the device directory, by how they were answered"
    " (database, negative_cache, rate_limited)",
    ["source"],
    registry=REGISTRY,
)
directory_changes = Counter(
    "trackgw_device_directory_changes_total",
    "Device changes the directory learnt by NOTIFY",
    registry=REGISTRY,
)
entitlement_rebuilds = Counter(
    "trackgw_entitlement_snapshot_rebuilds_total",
    "Entitlement snapshots built",
    registry=REGISTRY,
)
message_errors = Counter(
    "trackgw_message_errors_total",
    "Unexpected exceptions while handling one message (logged; the message rejected)",
    ["task"],
    registry=REGISTRY,
)
task_up = Gauge(
    "trackgw_task_up",
    "1 while a supervised task runs, 0 once it has ended",
    ["task"],
    registry=REGISTRY,
)
jump_reanchors = Counter(
    "trackgw_jump_reanchors_total",
    "Times the jump filter re-anchored on consistent fixes it had dropped",
    registry=REGISTRY,
)
live_events = Counter(
    "trackgw_live_events_total",
    "Events published on circles' live streams",
    ["kind"],
    registry=REGISTRY,
)
live_readers = Gauge(
    "trackgw_live_readers",
    "Open live stream readers (SSE and WebSocket)",
    registry=REGISTRY,
)
live_readers_dropped = Counter(
    "trackgw_live_readers_dropped_total",
    "Live stream readers ended by the gateway, by reason (slow, revoked)",
    ["reason"],
    registry=REGISTRY,
)
live_late_fixes = Counter(
    "trackgw_live_late_fixes_total",
    "Committed fixes not published live because a newer one of the device already was",
    registry=REGISTRY,
)
command_connections = Gauge(
    "trackgw_command_connections",
    "Devices this process can write a command to now (live TCP sessions, UDP peers)",
    registry=REGISTRY,
)
commands_total = Counter(
    "trackgw_commands_total",
    "Commands to devices by what became of them (sent, answered, expired, failed)",
    ["protocol", "state"],
    registry=REGISTRY,
)
notifications_sent = Counter(
    "trackgw_notifications_sent_total",
    "Notifications delivered from the outbox, by channel and kind",
    ["channel", "kind"],
    registry=REGISTRY,
)
notifications_failed = Counter(
    "trackgw_notifications_failed_total",
    "Notification delivery attempts that failed (retried later), by channel",
    ["channel"],
    registry=REGISTRY,
)
notifications_dead = Counter(
    "trackgw_notifications_dead_total",
    "Notifications dead-lettered after the last attempt, by channel",
    ["channel"],
    registry=REGISTRY,
)
notifications_jobs = Counter(
    "trackgw_notification_jobs_total",
    "Runs of the database-scheduled jobs (watch, billing notices, retention), by job and outcome",
    ["job", "outcome"],
    registry=REGISTRY,
)
