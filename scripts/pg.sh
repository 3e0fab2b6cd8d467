# shellcheck shell=bash
# The local PostgreSQL cluster that scripts/run uses when no database URLs are
# given: one cluster under .data/pg, reachable only through a unix socket in a
# directory only its owner (and root) can enter. Sourced after lib.sh.

PG_DIR="${PICKET_PG_DIR:-$PICKET_ROOT/.data/pg}"
PG_SOCK="$PG_DIR/run"

pg_local_start() {
	local bindir
	bindir=$(pg_bindir) || die "PostgreSQL server binaries not found (package postgresql)"
	mkdir -p "$PG_DIR"
	if [ "$(id -u)" -eq 0 ]; then
		id postgres >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin postgres
		chown postgres "$PG_DIR"
	fi
	if [ ! -f "$PG_DIR/data/PG_VERSION" ]; then
		say "creating the local PostgreSQL cluster in .data/pg"
		# the superuser may log in over the private socket without a
		# password; every other role needs its password (scram).
		run_as_pg "$bindir/initdb" -D "$PG_DIR/data" -U postgres --auth-local=peer \
			--auth-host=reject -E UTF8 --no-instructions >"$PG_DIR/initdb.log" 2>&1 ||
			die "initdb failed; see .data/pg/initdb.log"
		{
			echo "local all postgres trust"
			echo "local all all scram-sha-256"
		} >"$PG_DIR/data/pg_hba.conf"
	fi
	run_as_pg mkdir -p "$PG_SOCK"
	chmod 700 "$PG_SOCK"
	if run_as_pg "$bindir/pg_ctl" -D "$PG_DIR/data" status >/dev/null 2>&1; then
		say "PostgreSQL already running in .data/pg"
		PG_STARTED=0
	else
		say "starting PostgreSQL (unix socket only, no TCP listener)"
		run_as_pg "$bindir/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -s \
			-o "-c listen_addresses='' -c unix_socket_directories='$PG_SOCK' -c unix_socket_permissions=0700" \
			start || die "PostgreSQL did not start; see .data/pg/server.log"
		PG_STARTED=1
	fi
	export PICKET_PG_ADMIN_URL="postgres://postgres@/postgres?host=$PG_SOCK&sslmode=disable"
}

pg_local_stop() {
	local bindir
	bindir=$(pg_bindir) || return 0
	run_as_pg "$bindir/pg_ctl" -D "$PG_DIR/data" -m fast -w -s stop >/dev/null 2>&1 || true
}
