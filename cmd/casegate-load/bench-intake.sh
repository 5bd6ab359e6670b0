#!/usr/bin/env bash
# bench-intake.sh: intake of casegate beside Postfix's smtp-sink, one run.
#
# Runs Postfix's smtp-source with the same arguments against
#   1. smtp-sink, which accepts every mail and discards it (the ceiling of
#      SMTP on this machine), and
#   2. a freshly built `casegate serve` on a new data directory, whose
#      outbound relay is a second smtp-sink,
# then checks that every mail became a stored case and prints both rates
# and their ratio. It never installs or starts a system MTA: without
# smtp-source/smtp-sink it says how to install them and stops.
#
# Environment (defaults in brackets):
#   BENCH_N         mails per run [3000]
#   BENCH_SESSIONS  parallel SMTP sessions [20]
#   BENCH_SIZE      body bytes per mail [5120]
#   BENCH_DIR       where the temporary data directory goes [$TMPDIR or /tmp]
#   BENCH_EXTRA_CONFIG  YAML appended to the generated casegate config
#                   (top-level keys the generated file does not set)
#   BENCH_KEEP=1    keep the data directory, config and logs
#   BENCH_BINARY    a casegate binary to run instead of building this tree
#                   (to measure another version in the same run)
#   GO              the go command [go]
set -euo pipefail

N=${BENCH_N:-3000}
SESSIONS=${BENCH_SESSIONS:-20}
SIZE=${BENCH_SIZE:-5120}
GO=${GO:-go}

die() { echo "bench-intake: $*" >&2; exit 1; }

for v in N SESSIONS SIZE; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "BENCH_$v must be a positive integer, not '${!v}'"
done

# find_tool prints the path of a Postfix tool, or fails.
find_tool() {
	local d
	if command -v "$1" 2>/dev/null; then return 0; fi
	for d in /usr/sbin /usr/lib/postfix/sbin /usr/libexec/postfix; do
		if [[ -x $d/$1 ]]; then echo "$d/$1"; return 0; fi
	done
	return 1
}

if ! SOURCE=$(find_tool smtp-source) || ! SINK=$(find_tool smtp-sink); then
	cat >&2 <<-'EOF'
	bench-intake: Postfix's smtp-source and smtp-sink are needed and were not found
	(looked in PATH, /usr/sbin, /usr/lib/postfix/sbin, /usr/libexec/postfix).
	On Debian or Ubuntu install them with

	    sudo apt-get install postfix

	and answer "No configuration" when asked, so that no mail server is
	set up or started; this script only runs the two test programs.
	EOF
	exit 1
fi

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
WORK=$(mktemp -d "${BENCH_DIR:-${TMPDIR:-/tmp}}/casegate-bench-intake.XXXXXX")
PIDS=()
OK=0

cleanup() {
	local pid
	for pid in "${PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in "${PIDS[@]}"; do
		# casegate drains its in-flight mail on SIGTERM; give it 30 s.
		for _ in $(seq 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	if [[ $OK == 1 && ${BENCH_KEEP:-0} != 1 ]]; then
		rm -rf "$WORK"
	else
		echo "bench-intake: data, config and logs kept in $WORK" >&2
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Ports are taken below the kernel's ephemeral range, where the mail
# clients' own connections would collide with them.
EPHEMERAL_LOW=32768
read -r EPHEMERAL_LOW _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || true
((EPHEMERAL_LOW > 11000)) || EPHEMERAL_LOW=32768

# free_port prints a loopback TCP port nobody listens on at the moment.
free_port() {
	local p
	for _ in $(seq 100); do
		p=$((10000 + RANDOM % (EPHEMERAL_LOW - 10000)))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return 0; fi
	done
	die "no free loopback port found"
}

# wait_port waits until 127.0.0.1:$1 takes connections, while process $2
# lives; it fails when the process ended (reaping it) or after a minute.
wait_port() {
	for _ in $(seq 600); do
		if ! kill -0 "$2" 2>/dev/null; then
			wait "$2" 2>/dev/null || true
			return 1
		fi
		if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
		sleep 0.1
	done
	return 1
}

# start_sink starts an smtp-sink on a free port and sets PORT to it; a
# port taken in the meantime means another try.
start_sink() {
	local port user=() log=$WORK/$1.log
	[[ $EUID == 0 ]] && user=(-u nobody) # smtp-sink refuses to run as root without -u
	for _ in 1 2 3 4 5; do
		port=$(free_port)
		"$SINK" "${user[@]}" "127.0.0.1:$port" 256 >"$log" 2>&1 &
		PIDS+=($!)
		if wait_port "$port" $!; then PORT=$port; return 0; fi
	done
	die "smtp-sink did not start: $(cat "$log")"
}

# start_casegate writes the config and starts casegate serve on free ports,
# relaying to 127.0.0.1:$1; it sets SMTP_PORT.
start_casegate() {
	local http_port maxconn=$((SESSIONS + 10 > 100 ? SESSIONS + 10 : 100)) # 100 is the default
	for _ in 1 2 3 4 5; do
		SMTP_PORT=$(free_port)
		http_port=$(free_port)
		[[ $http_port != "$SMTP_PORT" ]] || continue
		HTTP_PORT=$http_port
		cat >"$WORK/casegate.yaml" <<-EOF
		# Embedded defaults, but for the listeners, the data directory, the relay,
		# and the limits that would refuse a load test from one address (every
		# mail comes from 127.0.0.1 here, from many servers in production).
		data_dir: $WORK/data
		smtp:
		  listen: 127.0.0.1:$SMTP_PORT
		  max_connections: $maxconn
		  max_connections_per_ip: $maxconn
		  max_connections_per_ip_per_minute: 1000000
		http:
		  listen: 127.0.0.1:$http_port
		outbound:
		  relay: 127.0.0.1:$1
		  tls: none
		EOF
		if [[ -n ${BENCH_EXTRA_CONFIG:-} ]]; then printf '%s\n' "$BENCH_EXTRA_CONFIG" >>"$WORK/casegate.yaml"; fi
		"$WORK/casegate" serve --config "$WORK/casegate.yaml" >"$WORK/casegate.log" 2>&1 &
		PIDS+=($!)
		if wait_port "$SMTP_PORT" $!; then return 0; fi
		grep -q "address already in use" "$WORK/casegate.log" || break
	done
	die "casegate serve did not start; its log ends with: $(tail -n 5 "$WORK/casegate.log")"
}

# metric prints the value of a counter on casegate's /metrics, or "?".
metric() {
	local line v="?"
	if exec 3<>"/dev/tcp/127.0.0.1/$HTTP_PORT" 2>/dev/null; then
		printf 'GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
		while IFS= read -r line; do
			if [[ $line == "$1 "* ]]; then v=${line#"$1 "}; v=${v%$'\r'}; fi
		done <&3
		exec 3<&-
	fi
	echo "$v"
}

# source_rate runs smtp-source against 127.0.0.1:$1 and sets ELAPSED and RATE.
source_rate() {
	local t0 t1 pid rc=0
	t0=$(date +%s%N)
	# In the background, so that a signal to this script stops it at once.
	"$SOURCE" -d -s "$SESSIONS" -m "$N" -l "$SIZE" -M load.test -f customer@load.test -t support@localhost \
		"127.0.0.1:$1" &
	pid=$!
	PIDS+=("$pid")
	wait "$pid" || rc=$?
	t1=$(date +%s%N)
	[[ $rc == 0 ]] || die "smtp-source against 127.0.0.1:$1 failed (exit $rc)"
	ELAPSED=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
	RATE=$(awk -v n="$N" -v s="$ELAPSED" 'BEGIN { printf "%.0f", n / s }')
}

FSTYPE=$(stat -f -c %T "$WORK" 2>/dev/null || echo "file system unknown")
echo "bench-intake: smtp-source -d -s $SESSIONS -m $N -l $SIZE; data in $WORK ($FSTYPE)"
[[ $FSTYPE == tmpfs ]] && echo "bench-intake: warning: $WORK is tmpfs, where fsync costs nothing; set BENCH_DIR to a disk" >&2

if [[ -n ${BENCH_BINARY:-} ]]; then
	[[ -x $BENCH_BINARY ]] || die "BENCH_BINARY=$BENCH_BINARY is not an executable file"
	echo "bench-intake: running $BENCH_BINARY"
	cp "$BENCH_BINARY" "$WORK/casegate"
else
	echo "bench-intake: building casegate"
	(cd "$ROOT" && "$GO" build -o "$WORK/casegate" ./cmd/casegate)
fi

# 1. smtp-sink
start_sink sink
source_rate "$PORT"
SINK_RATE=$RATE SINK_ELAPSED=$ELAPSED
echo "smtp-sink:      $N mails in ${SINK_ELAPSED}s: $SINK_RATE mails/s"

# 2. casegate serve, its notifications going to another smtp-sink
start_sink relay
start_casegate "$PORT"
source_rate "$SMTP_PORT"
CG_RATE=$RATE CG_ELAPSED=$ELAPSED
COMMITS=$(metric casegate_store_commits_total) WRITES=$(metric casegate_store_writes_total)

# Every mail a stored case: smtp-source varies only the Message-Id
# (<pid.fd.count@load.test>) between its mails, so a repeated id would
# show here as a missing case.
CASES=$("$WORK/casegate" cases list --config "$WORK/casegate.yaml" --limit 0 --json |
	grep -o '"number": "[^"]*"' | sort -u | wc -l | tr -d ' ')
echo "casegate serve: $N mails in ${CG_ELAPSED}s: $CG_RATE mails/s; stored cases: $CASES of $N"
if [[ $COMMITS =~ ^[0-9.e+]+$ && $WRITES =~ ^[0-9.e+]+$ ]]; then
	awk -v w="$WRITES" -v c="$COMMITS" 'BEGIN { if (c > 0) printf "casegate serve: %.0f writes in %.0f commits: %.1f per commit\n", w, c, w / c }'
fi
awk -v a="$CG_RATE" -v b="$SINK_RATE" 'BEGIN { printf "ratio casegate / smtp-sink: %.3f\n", a / b }'
[[ $CASES == "$N" ]] || die "$CASES cases stored for $N mails accepted"
OK=1
