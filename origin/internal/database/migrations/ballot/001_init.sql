-- ballot: ballots and their tallies (issue of its own).
create schema picket;
