-- Entitlements: subscriptions carry what the lifecycle needs; the entitlements table holds each
-- circle's resolved timeline (computed by entitlements/, the one implementation of the rules);
-- every change that can alter a decision is NOTIFYed to the gateways on 'trackgw_entitlements'.

alter table subscriptions
    add column ended_at       timestamptz,
    add column on_hold_since  timestamptz,
    add column last_event_id  text;

drop table entitlements;
create table entitlements (
    circle_id        text not null references circles(id) on delete cascade,
    seq              integer not null,
    valid_from       timestamptz,          -- null: since ever
    valid_until      timestamptz,          -- null: until further notice
    plan             text not null,
    status           text not null,
    subscription_id  text,
    limits           jsonb not null,
    computed_at      timestamptz not null default now(),
    primary key (circle_id, seq)
);

-- Stripe webhook events seen (idempotency by event id, and an audit trail).
create table stripe_events (
    id           text primary key,
    type         text not null,
    created      timestamptz not null,
    received_at  timestamptz not null default now(),
    outcome      text not null
);

create function trackgw_notify_entitlements() returns trigger language plpgsql as $$
declare
    circle text := '';
    rec record;
begin
    rec := coalesce(new, old);
    if tg_table_name in ('subscriptions', 'circle_members', 'places') then
        circle := rec.circle_id;
    elsif tg_table_name = 'circles' then
        circle := rec.id;
    end if;
    perform pg_notify('trackgw_entitlements', tg_table_name || ':' || coalesce(circle, ''));
    return null;
end $$;

create trigger subscriptions_notify after insert or update or delete on subscriptions
    for each row execute function trackgw_notify_entitlements();
create trigger circles_notify after insert or update or delete on circles
    for each row execute function trackgw_notify_entitlements();
create trigger circle_members_notify after insert or update or delete on circle_members
    for each row execute function trackgw_notify_entitlements();
create trigger places_notify after insert or update or delete on places
    for each row execute function trackgw_notify_entitlements();
create trigger devices_notify after insert or update or delete on devices
    for each row execute function trackgw_notify_entitlements();
create trigger accounts_notify after insert or update or delete on accounts
    for each row execute function trackgw_notify_entitlements();
