-- accounts: a pseudonym and passkeys, nothing else (no email, phone, name).
create table picket.accounts (
    id uuid primary key,
    -- the WebAuthn user handle: random, never derived from anything
    user_handle bytea not null unique check (length(user_handle) = 32),
    pseudonym text not null check (length(pseudonym) between 1 and 64)
);

create table picket.passkeys (
    credential_id bytea primary key,
    account_id uuid not null references picket.accounts (id) on delete cascade,
    -- the library's credential record (public key, flags, attestation format)
    record jsonb not null,
    sign_count bigint not null default 0,
    backup_eligible boolean not null,
    backup_state boolean not null,
    created_at timestamptz not null
);

create index passkeys_account on picket.passkeys (account_id);

-- sessions: only a hash of the opaque token is stored
create table picket.sessions (
    id uuid primary key,
    token_hash bytea not null unique,
    account_id uuid not null references picket.accounts (id) on delete cascade,
    created_at timestamptz not null,
    expires_at timestamptz not null
);

create index sessions_account on picket.sessions (account_id);

-- WebAuthn ceremonies between begin and finish: single use, 5 minutes
create table picket.ceremonies (
    id_hash bytea primary key,
    kind text not null check (kind in ('register', 'verify', 'add_passkey')),
    account_id uuid references picket.accounts (id) on delete cascade,
    pseudonym text,
    user_handle bytea,
    session jsonb not null,
    expires_at timestamptz not null
);

create index ceremonies_expiry on picket.ceremonies (expires_at);
