#!/bin/sh
# relaylab's cdb lookups against tinycdb's, without package-benchmark: the same files (generated
# by `relaylab bench cdb --generate`), the same query stream (written by --write-keys), one tool
# after the other. Usage: Benchmarks/Compare/compare.sh [RECORDS...]   (default: 10000 100000 1000000)
# Needs libcdb-dev (tinycdb's C library) and a C compiler. Files go to ${RELAYLAB_BENCH_CACHE:-/tmp/relaylab-bench}.
set -e
cd "$(dirname "$0")/../.."
cache="${RELAYLAB_BENCH_CACHE:-/tmp/relaylab-bench}"
lookups="${LOOKUPS:-5000000}"
mkdir -p "$cache"
swift build -c release --product relaylab >&2
relaylab=.build/release/relaylab
cc -O2 -o "$cache/tinycdb-bench" Benchmarks/Compare/tinycdb-bench.c -lcdb
sizes="${*:-10000 100000 1000000}"
printf '%-10s %14s %14s %14s %10s %10s\n' records tinycdb-ns relaylab-ns batched-ns single-x batched-x
for n in $sizes; do
    db="$cache/domains-$n-seed1.cdb"
    [ -f "$db" ] || "$relaylab" bench cdb --generate "$n" "$db" >&2
    keys="$cache/queries-$n.txt"
    [ -f "$keys" ] || "$relaylab" bench cdb "$db" --lookups 1000000 --write-keys "$keys" --format json >/dev/null
    tiny=$("$cache/tinycdb-bench" "$db" "$keys" "$lookups" | sed 's/.*"ns_per_lookup": \([0-9.]*\).*/\1/')
    ours=$("$relaylab" bench cdb "$db" --keys "$keys" --lookups "$lookups" --format json | sed -n 's/.*"ns_per_lookup" : \([0-9.]*\).*/\1/p')
    batch=$("$relaylab" bench cdb "$db" --keys "$keys" --lookups "$lookups" --batch --format json | sed -n 's/.*"ns_per_lookup" : \([0-9.]*\).*/\1/p')
    awk -v n="$n" -v t="$tiny" -v o="$ours" -v b="$batch" \
        'BEGIN { printf "%-10s %14.1f %14.1f %14.1f %10.2f %10.2f\n", n, t, o, b, t / o, t / b }'
done
