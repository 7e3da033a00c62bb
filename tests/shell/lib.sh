# lib.sh -- helpers for the shell tests run through pipes (sourced by
# tests/shell/*.sh; tests/run.sh does not run it on its own).  Each check
# prints one TAP-like line (`ok - name` / `not ok - name` with the output
# that failed), which tests/run.sh counts.
# Environment (set by tests/run.sh): TESTUDO (the binary), TESTUDO_TMP (a
# scratch directory, also the cwd), TESTUDO_ROOT (the repository).

T=${TESTUDO:?}
D=${TESTUDO_TMP:?}
fails=0

ok() { echo "ok - $1"; }
notok() {
    echo "not ok - $1"
    fails=$((fails + 1))
    [ -f "$D/out" ] && sed -e 's/^/#   out: /' "$D/out" | head -20
    [ -f "$D/err" ] && sed -e 's/^/#   err: /' "$D/err" | head -20
    return 0
}
# run ARGS... -- runs testudo with stdin from /dev/null; sets $rc.
run() {
    "$T" "$@" >"$D/out" 2>"$D/err" </dev/null
    rc=$?
}
# pipe TEXT ARGS... -- runs testudo with TEXT on stdin; sets $rc.
pipe() {
    text=$1
    shift
    printf '%s' "$text" | "$T" "$@" >"$D/out" 2>"$D/err"
    rc=$?
}
# expect_rc NAME CODE
expect_rc() {
    if [ "$rc" -eq "$2" ]; then ok "$1"; else notok "$1 (status $rc, wanted $2)"; fi
}
# out_has / out_lacks / err_has NAME EXTENDED-REGEXP
out_has() {
    if grep -q -E -- "$2" "$D/out"; then ok "$1"; else notok "$1 (stdout lacks /$2/)"; fi
}
out_lacks() {
    if grep -q -E -- "$2" "$D/out"; then notok "$1 (stdout has /$2/)"; else ok "$1"; fi
}
err_has() {
    if grep -q -E -- "$2" "$D/err"; then ok "$1"; else notok "$1 (stderr lacks /$2/)"; fi
}
# out_is NAME TEXT -- stdout is exactly TEXT (less its last newline).
out_is() {
    if [ "$(cat "$D/out")" = "$2" ]; then ok "$1"; else notok "$1 (stdout is not '$2')"; fi
}
# one_err_line NAME -- stderr is exactly one line.
one_err_line() {
    if [ "$(wc -l <"$D/err")" -eq 1 ]; then ok "$1"; else notok "$1 ($(wc -l <"$D/err") lines on stderr)"; fi
}
