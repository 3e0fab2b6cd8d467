-- unions and their public posts. No table here links an account to a union:
-- memberships live, as keyed hashes, in the membership database.
create table picket.unions (
    id uuid primary key,
    slug text not null unique check (slug ~ '^[a-z0-9][a-z0-9-]{1,47}$'),
    name text not null check (length(name) between 1 and 100),
    description text not null default '' check (length(description) <= 2000)
);

-- a post carries the author's pseudonym as written, not the account
create table picket.posts (
    id uuid primary key,
    union_id uuid not null references picket.unions (id) on delete cascade,
    author_pseudonym text not null,
    body text not null check (length(body) between 1 and 10000),
    created_at timestamptz not null,
    report_count integer not null default 0
);

create index posts_union on picket.posts (union_id, created_at desc);
