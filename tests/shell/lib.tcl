# lib.tcl -- helpers for the shell tests (expect, through a pty).
#
# Each test file sources this, spawns build/testudo with `start` and
# checks its output with `check`; every check prints one TAP-like line
# (`ok - name` / `not ok - name`), which tests/run.sh counts.
# Environment (set by tests/run.sh): TESTUDO (the binary), TESTUDO_TMP (a
# scratch directory, also the cwd), HOME (a fresh directory), PAGER=cat.

set timeout 15
log_user 0
set testudo $env(TESTUDO)
set tmp $env(TESTUDO_TMP)
set prompt {testudo\*?> }
# Colors off unless a test turns them back on.
set env(NO_COLOR) 1
set env(TESTUDO_HISTORY) "$tmp/history"
set failures 0

proc ok {name} {
    puts "ok - $name"
}

proc notok {name why} {
    global failures
    incr failures
    puts "not ok - $name"
    foreach line [split $why "\n"] {
        puts "#   $line"
    }
}

# Spawns testudo with the given arguments.
proc start {args} {
    global testudo spawn_id
    spawn -noecho $testudo {*}$args
}

# What is left in the output buffer (for failure messages).
proc leftover {} {
    expect {
        -timeout 0
        -re {.+} { return [string map {"\r" "\\r" "\033" "\\e"} $expect_out(buffer)] }
        default { return "" }
    }
}

# Waits for the regexp pattern in the output; one ok/not ok line.
proc check {name pattern} {
    expect {
        -re $pattern {
            ok $name
            return 1
        }
        timeout {
            notok $name "timeout waiting for /$pattern/; got:\n[leftover]"
            return 0
        }
        eof {
            notok $name "end of output waiting for /$pattern/; got:\n[leftover]"
            return 0
        }
    }
}

# Waits for the pattern without reporting (sync point); returns 1 if seen.
proc wait_for {pattern} {
    expect {
        -re $pattern { return 1 }
        timeout { return 0 }
        eof { return 0 }
    }
}

# Sends a line (with a carriage return, as a terminal would).
proc type {line} {
    send -- "$line\r"
}

# Checks a condition computed in Tcl.
proc assert {name cond {why ""}} {
    if {[uplevel 1 [list expr $cond]]} {
        ok $name
    } else {
        notok $name "condition failed: $cond $why"
    }
}

# Runs testudo without a pty; returns {status stdout stderr}.
proc run {args} {
    global testudo tmp
    set out "$tmp/run.out"
    set err "$tmp/run.err"
    set status 0
    if {[catch {exec $testudo {*}$args >$out 2>$err </dev/null} msg opts]} {
        set code [dict get $opts -errorcode]
        if {[lindex $code 0] eq "CHILDSTATUS"} {
            set status [lindex $code 2]
        } else {
            set status -1
        }
    }
    set f [open $out]; set o [read $f]; close $f
    set f [open $err]; set e [read $f]; close $f
    return [list $status $o $e]
}

# Ends the session: Ctrl-D, then waits for the process to exit.
proc finish {} {
    send "\004"
    expect eof
    catch {wait}
}
