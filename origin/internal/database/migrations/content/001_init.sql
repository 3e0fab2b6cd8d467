-- content: public posts of unions and the short-lived event log behind the
-- transparency report. Objects are owned by the owner role that runs this;
-- the app role receives DML only (see database.Migrate).
create schema picket;

create schema logs;

-- events the transparency report counts; purged after 24 hours
create table logs.events (
    id bigint generated always as identity primary key,
    at timestamptz not null default now(),
    kind text not null check (kind ~ '^[a-z][a-z0-9_.]{0,63}$')
);

create index events_at on logs.events (at);
