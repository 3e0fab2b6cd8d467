-- memberships as keyed hashes of (account, union) made by the key manager:
-- the database alone cannot say who belongs to which union. union_id is
-- kept in the clear so that counts per union need no key.
create table picket.memberships (
    hash text primary key,
    union_id uuid not null
);

create index memberships_union on picket.memberships (union_id);

-- union admins, the same way
create table picket.admins (
    hash text primary key,
    union_id uuid not null
);

-- each member's list of unions, encrypted on the device; opaque here
create table picket.blobs (
    owner_hash text primary key,
    blob bytea not null check (length(blob) <= 32768)
);
