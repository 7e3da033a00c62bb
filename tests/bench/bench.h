/*
 * bench.h -- what the benchmark driver (bench.c) asks of a raw-driver
 * baseline (raw_sqlite.c): the same SQL work as tests/bench/workload.lua
 * does through testudo, with prepared statements and no ORM.
 *
 * The schema: bench_group (id, name), bench_row (id, name, email, age,
 * score, balance NUMERIC(12,2), created, active, bio NULL, group_id ->
 * bench_group), bench_note (id, row_id -> bench_row, body); testudo's side
 * uses bench_*, the raw side the same tables named raw_bench_* (on a
 * server both live in one database).
 * Row i (1-based) holds the values bench_row_values() gives.
 */
#ifndef TESTUDO_BENCH_H
#define TESTUDO_BENCH_H

#include <stdbool.h>
#include <stdint.h>

#define BENCH_GROUPS 100

/* The values of row i, as both sides write them. */
typedef struct bench_row {
    int64_t id; /* 0 until inserted */
    char name[32];
    char email[48];
    int64_t age;
    double score;
    char balance[24]; /* a decimal as text: "1234.25" */
    char created[24]; /* "2024-01-01 00:00:00" plus i seconds */
    bool active;
    bool has_bio; /* bio NULL when false */
    char bio[48];
    int64_t group_id;
} bench_row;

/* Fills *r with the values of row i (1-based); r->id stays 0. */
void bench_row_values(int64_t i, bench_row *r);

/* A raw session; each test function does the work the Lua test of the
 * same name does (tests/bench/workload.lua). */
typedef struct raw_db raw_db;

typedef struct raw_test {
    const char *name;
    void (*run)(raw_db *db, int64_t n);  /* timed */
    void (*prep)(raw_db *db, int64_t n); /* before it, untimed; or NULL */
} raw_test;

/* A raw driver: opens target (SQLite: "memory" or a file path; a server:
 * its URL, as testudo takes it) and makes the empty schema -- the tables
 * raw_bench_group, raw_bench_row, raw_bench_note, as testudo's
 * generate_schemas makes bench_* for the workload's models on that
 * database -- with its BENCH_GROUPS groups; NULL after printing why. */
typedef struct raw_backend {
    const char *name; /* "sqlite", "postgres", "mysql" */
    raw_db *(*open)(const char *target);
    void (*close)(raw_db *db); /* drops nothing */
    const raw_test *tests;     /* NULL-terminated, in the order they run */
} raw_backend;

extern const raw_backend raw_sqlite, raw_postgres, raw_mysql;

#endif
