/*
 * raw_sqlite.c -- the raw-driver baseline of the benchmark on SQLite:
 * each test does with sqlite3 prepared statements the SQL work its Lua
 * twin in workload.lua does through testudo (the same statements, the
 * same values, rows read into C structs), and nothing more.
 */
#include "bench.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct raw_db {
    sqlite3 *db;
    bench_row *rows; /* rows read by the last fetch (reused) */
    size_t nrows, cap;
    volatile int64_t sink; /* keeps reads from being optimised away */
};

/* The DDL testudo's generate_schemas makes for the workload's models. */
static const char schema[] =
    "CREATE TABLE raw_bench_group (id INTEGER PRIMARY KEY AUTOINCREMENT NOT "
    "NULL, name VARCHAR(40) NOT NULL);"
    "CREATE TABLE raw_bench_row (id INTEGER PRIMARY KEY AUTOINCREMENT NOT "
    "NULL, "
    "name VARCHAR(32) NOT NULL, email VARCHAR(48) NOT NULL, age INT NOT "
    "NULL, score REAL NOT NULL, balance DECIMAL(12,2) NOT NULL, created "
    "TIMESTAMP NOT NULL, active INT NOT NULL, bio TEXT, group_id INT NOT "
    "NULL REFERENCES raw_bench_group (id) ON DELETE CASCADE);"
    "CREATE TABLE raw_bench_note (id INTEGER PRIMARY KEY AUTOINCREMENT NOT "
    "NULL, "
    "row_id INT NOT NULL REFERENCES raw_bench_row (id) ON DELETE CASCADE, body "
    "VARCHAR(40) NOT NULL);";

static void die(raw_db *d, const char *what)
{
    fprintf(stderr, "bench: raw sqlite: %s: %s\n", what, sqlite3_errmsg(d->db));
    exit(1);
}

static void exec(raw_db *d, const char *sql)
{
    if (sqlite3_exec(d->db, sql, NULL, NULL, NULL) != SQLITE_OK)
        die(d, sql);
}

static sqlite3_stmt *prepare(raw_db *d, const char *sql)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(d->db, sql, -1, &st, NULL) != SQLITE_OK)
        die(d, sql);
    return st;
}

static void done(raw_db *d, sqlite3_stmt *st)
{
    if (sqlite3_step(st) != SQLITE_DONE)
        die(d, sqlite3_sql(st));
    sqlite3_reset(st);
}

static raw_db *raw_sqlite_open(const char *target)
{
    raw_db *d = calloc(1, sizeof(*d));
    const char *path = strcmp(target, "memory") == 0 ? ":memory:" : target;
    /* opened as testudo opens its sessions (without SQLite's mutexes) */
    if (!d || sqlite3_open_v2(path, &d->db,
                              SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                                  SQLITE_OPEN_NOMUTEX,
                              NULL) != SQLITE_OK) {
        fprintf(stderr, "bench: cannot open %s\n", path);
        return NULL;
    }
    /* what testudo sets on every SQLite connection */
    sqlite3_busy_timeout(d->db, 5000);
    exec(d, "PRAGMA foreign_keys=ON");
    exec(d, "DROP TABLE IF EXISTS raw_bench_note; DROP TABLE IF EXISTS "
            "raw_bench_row; DROP TABLE IF EXISTS raw_bench_group");
    exec(d, schema);
    sqlite3_stmt *g = prepare(d, "INSERT INTO raw_bench_group (id, name) "
                                 "VALUES (?, ?)");
    exec(d, "BEGIN");
    for (int i = 1; i <= BENCH_GROUPS; i++) {
        char name[16];
        snprintf(name, sizeof(name), "group %d", i);
        sqlite3_bind_int(g, 1, i);
        sqlite3_bind_text(g, 2, name, -1, SQLITE_TRANSIENT);
        done(d, g);
    }
    exec(d, "COMMIT");
    sqlite3_finalize(g);
    return d;
}

static void raw_sqlite_close(raw_db *d)
{
    if (!d)
        return;
    sqlite3_close(d->db);
    free(d->rows);
    free(d);
}

/* Binds the values of r to the 9 parameters from first on. */
static void bind_row(sqlite3_stmt *st, int first, const bench_row *r)
{
    sqlite3_bind_text(st, first, r->name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, first + 1, r->email, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, first + 2, r->age);
    sqlite3_bind_double(st, first + 3, r->score);
    sqlite3_bind_text(st, first + 4, r->balance, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, first + 5, r->created, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, first + 6, r->active);
    if (r->has_bio)
        sqlite3_bind_text(st, first + 7, r->bio, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, first + 7);
    sqlite3_bind_int64(st, first + 8, r->group_id);
}

#define COLS                                                                   \
    "id, name, email, age, score, balance, created, active, bio, group_id"

static void copy_text(char *dst, size_t cap, sqlite3_stmt *st, int col)
{
    const unsigned char *s = sqlite3_column_text(st, col);
    snprintf(dst, cap, "%s", s ? (const char *)s : "");
}

/* Reads the row st is on (COLS) into r. */
static void read_row(sqlite3_stmt *st, bench_row *r)
{
    r->id = sqlite3_column_int64(st, 0);
    copy_text(r->name, sizeof(r->name), st, 1);
    copy_text(r->email, sizeof(r->email), st, 2);
    r->age = sqlite3_column_int64(st, 3);
    r->score = sqlite3_column_double(st, 4);
    copy_text(r->balance, sizeof(r->balance), st, 5);
    copy_text(r->created, sizeof(r->created), st, 6);
    r->active = sqlite3_column_int(st, 7);
    r->has_bio = sqlite3_column_type(st, 8) != SQLITE_NULL;
    copy_text(r->bio, sizeof(r->bio), st, 8);
    r->group_id = sqlite3_column_int64(st, 9);
}

/* Steps st to the end, every row read into d->rows. */
static void read_all(raw_db *d, sqlite3_stmt *st)
{
    d->nrows = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (d->nrows == d->cap) {
            d->cap = d->cap ? 2 * d->cap : 1024;
            d->rows = realloc(d->rows, d->cap * sizeof(*d->rows));
            if (!d->rows)
                exit(1);
        }
        read_row(st, &d->rows[d->nrows++]);
    }
    if (rc != SQLITE_DONE)
        die(d, sqlite3_sql(st));
    sqlite3_reset(st);
    d->sink += (int64_t)d->nrows;
}

static void insert_each(raw_db *d, int64_t n)
{
    sqlite3_stmt *st = prepare(
        d, "INSERT INTO raw_bench_row (name, email, age, score, balance, "
           "created, active, bio, group_id) VALUES (?,?,?,?,?,?,?,?,?)");
    exec(d, "BEGIN");
    for (int64_t i = 1; i <= n; i++) {
        bench_row r;
        bench_row_values(i, &r);
        bind_row(st, 1, &r);
        done(d, st);
        r.id = sqlite3_last_insert_rowid(d->db);
        d->sink += r.id;
    }
    exec(d, "COMMIT");
    sqlite3_finalize(st);
}

static void fetch_all(raw_db *d, int64_t n)
{
    sqlite3_stmt *st = prepare(d, "SELECT " COLS " FROM raw_bench_row");
    read_all(d, st);
    sqlite3_finalize(st);
}

static void filter_limit(raw_db *d, int64_t n)
{
    sqlite3_stmt *st = prepare(d, "SELECT " COLS " FROM raw_bench_row WHERE id "
                                  "> ? ORDER BY id LIMIT 20");
    for (int64_t k = 0; k < n; k += 20) {
        sqlite3_bind_int64(st, 1, k);
        read_all(d, st);
    }
    sqlite3_finalize(st);
}

static void get_pk(raw_db *d, int64_t n)
{
    sqlite3_stmt *st =
        prepare(d, "SELECT " COLS " FROM raw_bench_row WHERE id = ? LIMIT 2");
    for (int64_t k = 1; k <= n; k++) {
        sqlite3_bind_int64(st, 1, k);
        read_all(d, st);
    }
    sqlite3_finalize(st);
}

static void values_list(raw_db *d, int64_t n)
{
    sqlite3_stmt *st = prepare(d, "SELECT id, name, age FROM raw_bench_row");
    while (sqlite3_step(st) == SQLITE_ROW) {
        char name[32];
        d->sink += sqlite3_column_int64(st, 0);
        copy_text(name, sizeof(name), st, 1);
        d->sink += sqlite3_column_int64(st, 2) + name[0];
    }
    sqlite3_finalize(st);
}

static void iterate(raw_db *d, int64_t n)
{
    sqlite3_stmt *st = prepare(d, "SELECT " COLS " FROM raw_bench_row");
    while (sqlite3_step(st) == SQLITE_ROW) {
        bench_row r;
        read_row(st, &r);
        d->sink += r.age;
    }
    sqlite3_finalize(st);
}

static void prefetch_prep(raw_db *d, int64_t n)
{
    exec(d,
         "INSERT INTO raw_bench_note (row_id, body) SELECT id, 'note ' || id "
         "FROM raw_bench_row");
}

/* Groups, their rows and the rows' notes: three queries, the later two
 * over the ids the earlier one found (IN lists), as prefetch does. */
static void prefetch(raw_db *d, int64_t n)
{
    sqlite3_stmt *g = prepare(d, "SELECT id, name FROM raw_bench_group");
    size_t ng = 0;
    int64_t gid[BENCH_GROUPS];
    while (sqlite3_step(g) == SQLITE_ROW && ng < BENCH_GROUPS)
        gid[ng++] = sqlite3_column_int64(g, 0);
    sqlite3_finalize(g);
    char *sql = malloc(64 + 24 * (size_t)(n > BENCH_GROUPS ? n : BENCH_GROUPS));
    size_t len = (size_t)sprintf(
        sql, "SELECT " COLS " FROM raw_bench_row WHERE group_id IN (");
    for (size_t i = 0; i < ng; i++)
        len +=
            (size_t)sprintf(sql + len, i ? ",%lld" : "%lld", (long long)gid[i]);
    strcpy(sql + len, ")");
    sqlite3_stmt *r = prepare(d, sql);
    read_all(d, r);
    sqlite3_finalize(r);
    len = (size_t)sprintf(sql, "SELECT id, row_id, body FROM raw_bench_note "
                               "WHERE row_id IN (");
    for (size_t i = 0; i < d->nrows; i++)
        len += (size_t)sprintf(sql + len, i ? ",%lld" : "%lld",
                               (long long)d->rows[i].id);
    strcpy(sql + len, ")");
    sqlite3_stmt *nt = prepare(d, sql);
    while (sqlite3_step(nt) == SQLITE_ROW) {
        char body[40];
        d->sink += sqlite3_column_int64(nt, 1);
        copy_text(body, sizeof(body), nt, 2);
    }
    sqlite3_finalize(nt);
    free(sql);
}

static void update_each(raw_db *d, int64_t n)
{
    sqlite3_stmt *st = prepare(
        d, "UPDATE raw_bench_row SET name=?, email=?, age=?, score=?, "
           "balance=?, created=?, active=?, bio=?, group_id=? WHERE id=?");
    exec(d, "BEGIN");
    for (int64_t i = 1; i <= n; i++) {
        bench_row r;
        bench_row_values(i, &r);
        r.age += 1;
        bind_row(st, 1, &r);
        sqlite3_bind_int64(st, 10, i);
        done(d, st);
    }
    exec(d, "COMMIT");
    sqlite3_finalize(st);
}

static void update_qs(raw_db *d, int64_t n)
{
    exec(d, "UPDATE raw_bench_row SET score = score + 1 WHERE active = 1");
}

/* (the notes go first, untimed: each delete would scan them for the
 * cascade, on both sides alike, hiding the cost being measured) */
static void delete_prep(raw_db *d, int64_t n)
{
    exec(d, "DELETE FROM raw_bench_note");
}

static void delete_each(raw_db *d, int64_t n)
{
    sqlite3_stmt *st = prepare(d, "DELETE FROM raw_bench_row WHERE id = ?");
    exec(d, "BEGIN");
    for (int64_t i = 1; i <= n; i++) {
        sqlite3_bind_int64(st, 1, i);
        done(d, st);
    }
    exec(d, "COMMIT");
    sqlite3_finalize(st);
}

/* Steps st to the end, reading the keys it returns. */
static void read_ids(raw_db *d, sqlite3_stmt *st)
{
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        d->sink += sqlite3_column_int64(st, 0);
    if (rc != SQLITE_DONE)
        die(d, sqlite3_sql(st));
    sqlite3_reset(st);
}

/* A multi-row INSERT of rows rows; the caller frees the statement. */
static sqlite3_stmt *insert_rows(raw_db *d, int rows)
{
    char *sql = malloc(256 + (size_t)rows * 24);
    if (!sql)
        exit(1);
    size_t len = (size_t)sprintf(sql, "INSERT INTO raw_bench_row (name, "
                                      "email, age, score, balance, created, "
                                      "active, bio, group_id) VALUES ");
    for (int i = 0; i < rows; i++)
        len += (size_t)sprintf(sql + len, i ? ",(?,?,?,?,?,?,?,?,?)"
                                            : "(?,?,?,?,?,?,?,?,?)");
    strcpy(sql + len, " RETURNING id"); /* testudo reads the keys back */
    sqlite3_stmt *st = prepare(d, sql);
    free(sql);
    return st;
}

/* As bulk_create does: statements of 100 rows (one prepared statement
 * reused), the rest in one more, all in one transaction. */
static void bulk_create(raw_db *d, int64_t n)
{
    enum { BATCH = 100 };
    sqlite3_stmt *full = insert_rows(d, BATCH);
    exec(d, "BEGIN");
    int64_t i = 1;
    for (; i + BATCH - 1 <= n; i += BATCH) {
        for (int k = 0; k < BATCH; k++) {
            bench_row r;
            bench_row_values(i + k, &r);
            bind_row(full, 1 + 9 * k, &r);
        }
        read_ids(d, full);
    }
    if (i <= n) {
        int rest = (int)(n - i + 1);
        sqlite3_stmt *last = insert_rows(d, rest);
        for (int k = 0; k < rest; k++) {
            bench_row r;
            bench_row_values(i + k, &r);
            bind_row(last, 1 + 9 * k, &r);
        }
        read_ids(d, last);
        sqlite3_finalize(last);
    }
    exec(d, "COMMIT");
    sqlite3_finalize(full);
}

static void delete_qs(raw_db *d, int64_t n)
{
    exec(d, "DELETE FROM raw_bench_row");
}

static const raw_test raw_sqlite_tests[] = {
    {"insert_each", insert_each, NULL},
    {"fetch_all", fetch_all, NULL},
    {"filter_limit", filter_limit, NULL},
    {"get_pk", get_pk, NULL},
    {"values", fetch_all, NULL},
    {"values_list", values_list, NULL},
    {"iter", iterate, NULL},
    {"prefetch", prefetch, prefetch_prep},
    {"update_each", update_each, NULL},
    {"update_qs", update_qs, NULL},
    {"delete_each", delete_each, delete_prep},
    {"bulk_create", bulk_create, NULL},
    {"delete_qs", delete_qs, NULL},
    {NULL, NULL, NULL},
};

const raw_backend raw_sqlite = {"sqlite", raw_sqlite_open, raw_sqlite_close,
                                raw_sqlite_tests};
