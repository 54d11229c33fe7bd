-- Notifications (issue 12): the transactional outbox, the members' rules and email opt-in,
-- each device's expected reporting interval and its watch (tracking stopped / back online,
-- phone battery low), jobs scheduled from the database, and the geofence's pending exits.

-- Email is a channel a member opts into (account and billing notices go to the payer always).
alter table accounts add column notify_email boolean not null default false;

-- The outbox: one row per (notification, recipient, channel), written in the transaction of
-- the event that causes it. dedup_key names the notification ("event:<id>", a billing
-- notice's key): the unique key is what makes a resend, a re-run job or a second gateway
-- process insert nothing.
create table notifications (
    id            bigserial primary key,
    dedup_key     text not null,
    recipient     text not null references accounts(id) on delete cascade,
    channel       text not null check (channel in ('mqtt', 'email')),
    kind          text not null,
    circle_id     text,
    event_id      bigint,
    payload       jsonb not null default '{}'::jsonb,
    created_at    timestamptz not null default now(),
    due_at        timestamptz not null default now(),
    attempts      smallint not null default 0 check (attempts between 0 and 100),
    leased_until  timestamptz,
    status        text not null default 'pending'
                  check (status in ('pending', 'sent', 'dead')),
    sent_at       timestamptz,
    last_error    text,
    unique (dedup_key, recipient, channel)
);
create index notifications_due on notifications (due_at) where status = 'pending';
create index notifications_recipient on notifications (recipient, created_at desc, id desc);

-- A member's rules for one circle. No rule: the defaults (every safety event, every member,
-- every place; MQTT, and email when opted in). With rules: told only what one of them matches.
-- Null arrays mean "any"; the time window is local time in tz (start > end spans midnight).
create table notification_rules (
    id          bigserial primary key,
    circle_id   text not null references circles(id) on delete cascade,
    account_id  text not null references accounts(id) on delete cascade,
    kinds       text[],
    places      text[],
    members     text[],
    channels    text[] not null default '{mqtt}',
    start_time  time,
    end_time    time,
    tz          text not null default 'UTC',
    created_at  timestamptz not null default now(),
    check (cardinality(channels) between 1 and 2),
    check ((start_time is null) = (end_time is null))
);
create index notification_rules_circle on notification_rules (circle_id, account_id);

-- How often a device is expected to report (null: the default of its kind, [notify]).
alter table devices add column expected_interval_s integer
    check (expected_interval_s between 10 and 604800);

-- The watch of each device that has reported: when "tracking stopped" is due, whether it
-- fired (so "back online" follows the next report), the phone battery hysteresis state.
-- Kept apart from devices: its updates must not wake the devices' NOTIFY listeners.
create table device_watch (
    device_id    bigint primary key references devices(id) on delete cascade,
    last_seen    timestamptz not null,
    due_at       timestamptz not null,
    stopped      boolean not null default false,
    battery_low  boolean not null default false,
    -- set by the writer's upsert to the value stopped had (under the row's lock): true when
    -- this report ended a "tracking stopped", so exactly one "back online" follows
    woke         boolean not null default false
);
create index device_watch_due on device_watch (due_at) where not stopped;

-- Jobs that run on a schedule from the database (retention daily, billing notices): the due
-- time is claimed with FOR UPDATE SKIP LOCKED, so one process runs each, once per due time.
create table scheduled_jobs (
    name     text primary key,
    due_at   timestamptz not null default now(),
    last_run timestamptz,
    last_ok  boolean
);

-- A pending exit survives a restart (geofence.confirm).
alter table geofence_state
    add column exit_since timestamptz,
    add column pending_fixes smallint not null default 0
        check (pending_fixes between 0 and 100);
