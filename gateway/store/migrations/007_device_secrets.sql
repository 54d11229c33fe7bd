-- Credentials at the trust boundary (issue 10): phones' HTTP secrets and members' broker clients.

-- A phone's HTTP credential: OwnTracks' Basic password, Overland's bearer token, OsmAnd's
-- key. Only a SHA-256 of it is kept (the secret is random, 32 bytes, shown once when set: a
-- fast hash is enough for a random secret and costs the hot path nothing). Bound to the
-- device row, so to its protocol.
create table device_secrets (
    device_id     bigint primary key references devices(id) on delete cascade,
    secret_sha256 bytea not null unique check (length(secret_sha256) = 32),
    created_at    timestamptz not null default now()
);

-- Members who have a broker client (POST /v1/me/mqtt). The broker keeps the password (its
-- dynamic security plugin stores a salted PBKDF2 hash); the gateway keeps the client's role in
-- step with memberships, plans and devices.
create table member_mqtt_clients (
    account_id  text primary key references accounts(id) on delete cascade,
    username    text not null unique,
    created_at  timestamptz not null default now()
);
