-- The geofence engine's per (device, place) record: a dwell in progress, and airport zones kept
-- apart from user places (an airport's id is its IATA code).
alter table geofence_state
    add column airport boolean not null default false,
    add column dwell_since timestamptz;
alter table geofence_state drop constraint geofence_state_pkey;
alter table geofence_state add primary key (device_id, place_id, airport);
