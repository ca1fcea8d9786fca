#!/bin/sh
# Builds relaylab's libFuzzer harnesses with AddressSanitizer and runs them.
#
#   Fuzz/run.sh build                 build every harness (one SwiftPM invocation)
#   Fuzz/run.sh HARNESS SECONDS       build, then fuzz one harness for SECONDS
#   Fuzz/run.sh all SECONDS           build, then fuzz every harness for SECONDS, one after another
#   Fuzz/run.sh list                  the harness names
#
# Each run starts from the committed seeds (Corpus/HARNESS) plus what earlier runs found
# (corpus-work/HARNESS, not committed), uses one process on one core, and stops at the first
# crash, leak, timeout (10 s for one input) or out-of-memory (2 GB), writing the input to
# corpus-work/HARNESS/artifacts/. The exit status is non-zero when any run found something.
# Environment: FUZZ_ARGS adds libFuzzer options (e.g. FUZZ_ARGS=-runs=1000); FUZZ_SKIP_BUILD=1
# runs the harnesses already built.
set -e
# The Swift runtime's crash backtracer would get in the way of libFuzzer's and ASan's reports.
export SWIFT_BACKTRACE=enable=no
cd "$(dirname "$0")"

HARNESSES="cdb-reader cdbmake tcprules scenario capture reassembly dialogue engine"
BUILD_PATH=.build-fuzz

build() {
    [ "${FUZZ_SKIP_BUILD:-0}" = 1 ] && return 0
    # -assert-config Debug keeps assert() checks in the optimized build (the packet decoder's
    # bounds asserts); C code (libyaml in Yams) is instrumented too. lld, when the toolchain has
    # it, links without gold's warnings about ASan's local symbols.
    linker=""
    if [ -x "$(dirname "$(readlink -f "$(command -v swift)")")/ld.lld" ]; then linker="-Xswiftc -use-ld=lld"; fi
    # SwiftPM does not notice files added to the relaylab package (a path dependency here):
    # dropping its cached build plan makes it look again (compiled objects are kept).
    rm -f "$BUILD_PATH/release.yaml" "$BUILD_PATH/release/description.json"
    # shellcheck disable=SC2086
    swift build -c release --build-path "$BUILD_PATH" \
        -Xswiftc -sanitize=fuzzer,address -Xswiftc -assert-config -Xswiftc Debug \
        $linker -Xcc -fsanitize=fuzzer-no-link,address
}

options_for() {
    case "$1" in
        cdb-reader) echo "-max_len=8192" ;;
        cdbmake) echo "-max_len=2048" ;;
        tcprules) echo "-max_len=4096 -dict=Dictionaries/tcprules.dict" ;;
        scenario) echo "-max_len=16384 -dict=Dictionaries/scenario.dict" ;;
        capture) echo "-max_len=16384" ;;
        reassembly) echo "-max_len=4096 -dict=Dictionaries/smtp.dict" ;;
        dialogue) echo "-max_len=4096 -dict=Dictionaries/smtp.dict" ;;
        engine) echo "-max_len=8192 -dict=Dictionaries/smtp.dict" ;;
        *) echo "unknown harness: $1 (one of: $HARNESSES)" >&2; exit 2 ;;
    esac
}

run() {
    harness=$1
    seconds=$2
    options=$(options_for "$harness")
    binary="$BUILD_PATH/release/fuzz-$harness"
    work="corpus-work/$harness"
    mkdir -p "$work/artifacts"
    log="corpus-work/$harness.log"
    echo "== fuzz-$harness for ${seconds}s (log: Fuzz/$log)"
    status=0
    # shellcheck disable=SC2086
    "$binary" $options -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$work/artifacts/" $FUZZ_ARGS "$work" "Corpus/$harness" >"$log" 2>&1 || status=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    last=$(grep -E '^#[0-9]+' "$log" | tail -1 | sed -E 's/.*(cov: [0-9]+ ft: [0-9]+ corp: [0-9]+\/[^ ]+).*/\1/')
    echo "   $harness: ${runs:-?} executions, $last, exit status $status"
    if [ "$status" -ne 0 ]; then
        echo "   FAILED: the end of the log:" >&2
        tail -40 "$log" >&2
    fi
    return "$status"
}

case "${1:-}" in
    list) echo "$HARNESSES" ;;
    build) build ;;
    all)
        [ -n "${2:-}" ] || { echo "usage: $0 all SECONDS" >&2; exit 2; }
        build
        failed=""
        for harness in $HARNESSES; do run "$harness" "$2" || failed="$failed $harness"; done
        if [ -n "$failed" ]; then echo "fuzzing found problems in:$failed" >&2; exit 1; fi
        ;;
    "" | -h | --help)
        sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'
        exit 2
        ;;
    *)
        [ -n "${2:-}" ] || { echo "usage: $0 HARNESS SECONDS" >&2; exit 2; }
        options_for "$1" >/dev/null
        build
        run "$1" "$2"
        ;;
esac
