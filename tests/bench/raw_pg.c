/*
 * raw_pg.c -- the raw-driver baseline of the benchmark on postgres: not
 * written yet (issue 12); opening says so.
 */
#include "bench.h"

#include <stdio.h>

static raw_db *raw_open(const char *target)
{
    (void)target;
    fprintf(stderr, "bench: no raw postgres twin yet (tests/bench/raw_pg.c)\n");
    return NULL;
}

static void raw_close(raw_db *db)
{
    (void)db;
}

static const raw_test tests[] = {{NULL, NULL, NULL}};

const raw_backend raw_postgres = {"postgres", raw_open, raw_close, tests};
