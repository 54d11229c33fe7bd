-- Members sign in: an email (unique whatever its case) and an argon2 hash on the account;
-- bearer tokens kept only as their SHA-256; single-use circle invitations; account deletion
-- waits for a code mailed to the account's address.

alter table accounts
    add column email          text,
    add column password_hash  text;
create unique index accounts_email on accounts (lower(email)) where email is not null;

create table api_tokens (
    id            bigserial primary key,
    account_id    text not null references accounts(id),
    name          text not null default '',
    token_sha256  bytea not null unique,
    created_at    timestamptz not null default now(),
    expires_at    timestamptz not null,
    last_used_at  timestamptz
);
create index api_tokens_account on api_tokens (account_id);

create table circle_invites (
    code_sha256  bytea primary key,
    circle_id    text not null references circles(id) on delete cascade,
    created_by   text not null references accounts(id),
    created_at   timestamptz not null default now(),
    expires_at   timestamptz not null,
    used_at      timestamptz,
    used_by      text references accounts(id)
);
create index circle_invites_circle on circle_invites (circle_id);

create table deletion_requests (
    account_id   text primary key references accounts(id),
    code_sha256  bytea not null,
    attempts     integer not null default 0,
    created_at   timestamptz not null default now(),
    expires_at   timestamptz not null
);
