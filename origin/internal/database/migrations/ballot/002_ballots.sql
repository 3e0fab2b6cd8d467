-- ballots, token issuances and votes. No table here holds an account id,
-- and no column is shared between issuances and votes except the ballot
-- id: see docs/voting-protocol.md, "What the server can and cannot learn".
create table picket.ballots (
    id uuid primary key,
    union_id uuid not null,
    question text not null check (length(question) between 1 and 500),
    options text[] not null check (cardinality(options) between 2 and 20),
    mode text not null check (mode in ('simple', 'unlinkable')),
    opens_at timestamptz not null,
    closes_at timestamptz not null check (closes_at > opens_at),
    running_tally boolean not null default false,
    -- unlinkable ballots only: the RSA public key (PKIX DER) and the private
    -- key sealed by the key manager (its AAD is the ballot id)
    public_key bytea,
    sealed_key text,
    check ((mode = 'unlinkable') = (public_key is not null and sealed_key is not null))
);

create index ballots_union on picket.ballots (union_id);

-- unlinkable mode: one token per (member, ballot). member_hash is the key
-- manager's keyed hash of (account, ballot); request_digest is SHA-256 of
-- the blinded message, so that a retry of the same request is answered
-- again without a second token. The blinded message is independent of the
-- message it hides, so the digest links to no vote.
create table picket.issuances (
    ballot_id uuid not null references picket.ballots (id) on delete cascade,
    member_hash text not null,
    request_digest bytea not null check (length(request_digest) = 32),
    primary key (ballot_id, member_hash)
);

-- simple mode: who has voted, as the same keyed hash; never the choice
create table picket.voters (
    ballot_id uuid not null references picket.ballots (id) on delete cascade,
    member_hash text not null,
    primary key (ballot_id, member_hash)
);

-- the votes: a choice, and in unlinkable mode the nullifier that makes a
-- token vote once. No account, no hash of one, no time.
create table picket.votes (
    ballot_id uuid not null references picket.ballots (id) on delete cascade,
    nullifier bytea check (length(nullifier) = 32),
    choice smallint not null check (choice >= 0)
);

create unique index votes_nullifier on picket.votes (ballot_id, nullifier);
create index votes_ballot on picket.votes (ballot_id, choice);
