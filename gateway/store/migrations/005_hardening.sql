-- Issue 9 (hardening): dead letters, alarms that deduplicate, a device directory that learns.

-- Rows the database refused (a data or integrity error) with the error and what the gateway
-- had of the original bytes; the rest of their batch was committed and acknowledged.
create table dead_letters (
    id          bigserial primary key,
    created_at  timestamptz not null default now(),
    kind        text not null check (kind in ('position', 'event', 'geofence_state')),
    device_id   bigint,
    protocol    text,
    reason      text not null,          -- the error class (e.g. check_violation)
    error       text not null,          -- the database's (or driver's) message
    raw         bytea,                  -- the read/message the row came from, when known
    row_text    text                    -- the row as the gateway built it
);
create index dead_letters_created on dead_letters (created_at desc);

-- A device alarm has no circle (circle_id is NULL), and NULLs are distinct in a plain unique
-- key, so a resent alarm was stored again. Drop existing duplicates, then key with NULLS NOT
-- DISTINCT (PostgreSQL 15+).
delete from events a
 using events b
 where a.id > b.id
   and a.device_id = b.device_id and a.kind = b.kind and a.time = b.time
   and a.subject = b.subject and a.circle_id is not distinct from b.circle_id;
alter table events drop constraint events_device_id_kind_time_subject_circle_id_key;
alter table events add constraint events_dedupe
    unique nulls not distinct (device_id, kind, time, subject, circle_id);

-- The gateway's device directory LISTENs here: the payload is 'device:<unique_id>' for a
-- device row that was added, changed or removed, 'account:<id>' for an account whose status
-- changed or that was removed. The directory re-reads just that device or account.
create function trackgw_notify_devices() returns trigger language plpgsql as $$
begin
    if tg_table_name = 'devices' then
        if tg_op in ('UPDATE', 'DELETE') then
            perform pg_notify('trackgw_devices', 'device:' || old.unique_id);
        end if;
        if tg_op in ('INSERT', 'UPDATE') and (tg_op = 'INSERT' or new.unique_id <> old.unique_id) then
            perform pg_notify('trackgw_devices', 'device:' || new.unique_id);
        end if;
    elsif tg_op = 'DELETE' then
        perform pg_notify('trackgw_devices', 'account:' || old.id);
    else
        perform pg_notify('trackgw_devices', 'account:' || new.id);
    end if;
    return null;
end $$;

create trigger devices_notify_directory after insert or update or delete on devices
    for each row execute function trackgw_notify_devices();
create trigger accounts_notify_directory after update of status or delete on accounts
    for each row execute function trackgw_notify_devices();
