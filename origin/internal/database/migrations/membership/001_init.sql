-- membership: accounts, passkeys, sessions and keyed-hash memberships.
create schema picket;
