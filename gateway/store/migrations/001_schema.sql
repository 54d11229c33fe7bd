-- trackgw first schema: who owns what, and where it has been.
create extension if not exists timescaledb;

create table accounts (
    id          text primary key,
    name        text,
    status      text not null default 'active'
                check (status in ('active', 'suspended', 'deleted')),
    created_at  timestamptz not null default now(),
    deleted_at  timestamptz
);

-- A device is identified by its own id (IMEI, phone id): unique across protocols, so a tag
-- that reaches the auto-detect port, or moves to another protocol's port, is still itself.
create table devices (
    id          bigserial primary key,
    account_id  text not null references accounts(id),
    unique_id   text not null unique,
    protocol    text not null,
    kind        text not null check (kind in ('tag', 'phone')),
    name        text,
    active      boolean not null default true,
    created_at  timestamptz not null default now()
);
create index devices_account on devices (account_id);

create table circles (
    id                text primary key,
    owner_account_id  text not null references accounts(id),
    name              text,
    created_at        timestamptz not null default now()
);
create index circles_owner on circles (owner_account_id);

-- join_seq orders members by when they joined: the plan's member limit keeps the first ones.
create table circle_members (
    circle_id   text not null references circles(id) on delete cascade,
    account_id  text not null references accounts(id),
    join_seq    bigserial not null,
    joined_at   timestamptz not null default now(),
    primary key (circle_id, account_id)
);
create index circle_members_account on circle_members (account_id);

-- Places (geofences). geometry is GeoJSON: a Point with radius_m, or a (Multi)Polygon.
create table places (
    id          bigserial primary key,
    circle_id   text not null references circles(id) on delete cascade,
    name        text not null,
    kind        text not null check (kind in ('circle', 'polygon')),
    geometry    jsonb not null,
    radius_m    double precision,
    created_at  timestamptz not null default now(),
    unique (circle_id, name)
);

create table subscriptions (
    id                    text primary key,
    circle_id             text not null references circles(id) on delete cascade,
    plan                  text not null,
    cycle                 text not null,
    started_at            timestamptz not null,
    trial_end             timestamptz,
    current_period_end    timestamptz,
    cancel_at_period_end  boolean not null default false,
    commitment_end        timestamptz,
    payment_failed_at     timestamptz,
    withdrawn_at          timestamptz,
    suspended_at          timestamptz,
    trial_revoked_at      timestamptz,
    payer                 text,
    consumer_region       text,
    source                text not null default 'admin',
    last_event_at         timestamptz,
    updated_at            timestamptz not null default now()
);
create index subscriptions_circle on subscriptions (circle_id);

-- The resolved entitlement of each circle (a cache of entitlements/ applied to subscriptions).
create table entitlements (
    circle_id        text primary key references circles(id) on delete cascade,
    plan             text not null,
    subscription_id  text,
    status           text not null,
    valid_until      timestamptz,
    limits           jsonb not null,
    computed_at      timestamptz not null default now()
);

-- Positions: a hypertable on fix_time. (device_id, fix_time) is unique: devices resend what
-- was not acknowledged, and the resend must not become a second row.
create table positions (
    device_id    bigint not null,
    fix_time     timestamptz not null,
    received_at  timestamptz not null,
    lat          double precision not null,
    lon          double precision not null,
    valid        boolean not null,
    speed_kmh    real,
    course_deg   real,
    altitude_m   real,
    accuracy_m   real,
    satellites   smallint,
    battery_pct  real,
    flags        smallint not null default 0,
    attributes   jsonb
);
select create_hypertable('positions', by_range('fix_time', interval '1 day'));
create unique index positions_device_time on positions (device_id, fix_time desc);

create table latest_positions (
    device_id    bigint primary key references devices(id) on delete cascade,
    fix_time     timestamptz not null,
    received_at  timestamptz not null,
    lat          double precision not null,
    lon          double precision not null,
    valid        boolean not null,
    speed_kmh    real,
    course_deg   real,
    altitude_m   real,
    accuracy_m   real,
    battery_pct  real
);

-- Geofence transitions, airport alerts, device alarms, limit notices. A resent alarm or a
-- re-evaluated transition is the same event: (device_id, kind, time, subject) is unique.
create table events (
    id          bigserial primary key,
    device_id   bigint not null,
    circle_id   text,
    kind        text not null,
    time        timestamptz not null,
    subject     text not null default '',
    payload     jsonb not null default '{}'::jsonb,
    created_at  timestamptz not null default now(),
    unique (device_id, kind, time, subject, circle_id)
);
create index events_circle_time on events (circle_id, time desc);
create index events_device_time on events (device_id, time desc);

-- Where each device is with respect to each place, so a restart does not re-fire alerts.
create table geofence_state (
    device_id  bigint not null,
    place_id   text not null,
    inside     boolean not null,
    since      timestamptz not null,
    data       jsonb,
    primary key (device_id, place_id)
);
