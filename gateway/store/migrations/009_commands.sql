-- Commands to devices (trackgw commands send, POST /v1/devices/{id}/commands).
--
-- A command is queued for one device and waits until the device is connected to a gateway
-- process, which claims it (queued -> sent, with the bytes it wrote), or until it expires
-- (queued -> expired). The device's first answer after that is recorded on the oldest sent
-- command of that device (sent -> answered). A command that could not be encoded for the
-- connection it found is failed, with the reason.
create table commands (
    id           bigserial primary key,
    device_id    bigint not null references devices(id) on delete cascade,
    name         text not null check (length(name) between 1 and 32),
    argument     text check (length(argument) <= 1024),
    state        text not null default 'queued'
                 check (state in ('queued', 'sent', 'answered', 'expired', 'failed')),
    requested_by text not null check (length(requested_by) <= 200),
    created_at   timestamptz not null default now(),
    expires_at   timestamptz not null,
    sent_at      timestamptz,
    answered_at  timestamptz,
    -- the bytes written to the device (its protocol's encoding, for this connection)
    payload      bytea,
    -- what the device answered (the reply message's attributes)
    response     jsonb,
    error        text,
    check (expires_at > created_at)
);
create index commands_device on commands (device_id, id);
-- what a gateway looks for: the queued commands, oldest first
create index commands_queued on commands (device_id, id) where state = 'queued';
create index commands_sent on commands (device_id, sent_at, id) where state = 'sent';

-- a new command wakes the gateways (the payload is the device id)
create function trackgw_notify_commands() returns trigger language plpgsql as $$
begin
    perform pg_notify('trackgw_commands', new.device_id::text);
    return null;
end $$;
create trigger commands_notify after insert on commands
    for each row execute function trackgw_notify_commands();
