#!/bin/sh
# run.sh DIR SECONDS NAME... -- runs each libFuzzer harness DIR/fuzz_NAME
# for SECONDS from its seeds in tests/fuzz/corpus/NAME, with the corpus it
# grows in DIR/corpus-NAME; prints each run's executions and new inputs,
# then `N passed, N failed` (a harness that crashed, leaked or found a
# sanitizer report fails; its input is kept as DIR/crash-*).
D=$1
SECS=$2
shift 2
cd "$(dirname "$0")/../.." || exit 2
pass=0
fail=0
for name in "$@"; do
    bin=$D/fuzz_$name
    work=$D/corpus-$name
    seeds=tests/fuzz/corpus/$name
    mkdir -p "$work"
    log=$D/fuzz-$name.log
    "$bin" -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$D/" "$work" \
        $( [ -d "$seeds" ] && echo "$seeds" ) >"$log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    if [ $rc -eq 0 ]; then
        pass=$((pass + 1))
        echo "ok - fuzz_$name: ${execs:-?} executions in ${SECS} s, corpus $(ls "$work" | wc -l) inputs"
    else
        fail=$((fail + 1))
        echo "not ok - fuzz_$name (status $rc)"
        grep -E 'ERROR|SUMMARY|runtime error|artifact' "$log" | head -n 20 | sed -e 's/^/#   /'
    fi
done
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
