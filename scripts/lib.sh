# shellcheck shell=bash
# Shared set-up for scripts/run, scripts/test and scripts/build. Sourced, not
# run. Everything here is idempotent: a second call finds what the first made.

set -euo pipefail

PICKET_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PICKET_ROOT
export PATH="/usr/local/go/bin:$PICKET_ROOT/bin/tools:$PATH"
export GOFLAGS="${GOFLAGS:--buildvcs=false}"

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# pg_bindir prints the newest PostgreSQL server bin directory, if any.
pg_bindir() {
	local d
	d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
	[ -n "$d" ] && [ -x "$d/initdb" ] && printf '%s\n' "$d"
}

# ensure_packages CMD:PACKAGE... installs the Debian package for every
# command that is missing, when running as root on Debian; otherwise it stops
# and names the packages.
ensure_packages() {
	local missing=() pair cmd pkg
	for pair in "$@"; do
		cmd=${pair%%:*}
		pkg=${pair#*:}
		case $cmd in
		initdb) pg_bindir >/dev/null || missing+=("$pkg") ;;
		*) command -v "$cmd" >/dev/null 2>&1 || missing+=("$pkg") ;;
		esac
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
		die "missing Debian packages: ${missing[*]} (install them with: sudo apt-get install ${missing[*]})"
	fi
	say "installing ${missing[*]} with apt-get"
	export DEBIAN_FRONTEND=noninteractive
	# keep package post-install scripts from starting system services
	# (tor, redis, nginx): picket starts its own, on loopback, when needed.
	printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
	chmod 755 /usr/sbin/policy-rc.d
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
	rm -f /usr/sbin/policy-rc.d
}

ensure_go() {
	command -v go >/dev/null 2>&1 ||
		die "Go 1.26 is required and not found (expected at /usr/local/go/bin/go; see https://go.dev/doc/install)"
	local v
	v=$(go env GOVERSION)
	case $v in
	go1.2[6-9]* | go1.[3-9][0-9]*) ;;
	*) die "Go 1.26 or newer is required, found $v" ;;
	esac
}

# the packages the main job needs
ensure_run_deps() {
	ensure_go
	ensure_packages initdb:postgresql jq:jq curl:curl openssl:openssl tor:tor redis-server:redis-server
}

# the packages the test suite needs on top
ensure_test_deps() {
	ensure_run_deps
	ensure_packages redis-server:redis-server wat2wasm:wabt chromium:chromium
}

# run_as_pg runs a command as the unprivileged user that owns the local
# PostgreSQL cluster (PostgreSQL refuses to run as root).
run_as_pg() {
	if [ "$(id -u)" -eq 0 ]; then
		id postgres >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin postgres
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}
