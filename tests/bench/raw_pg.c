/*
 * raw_pg.c -- the raw-driver baseline of the benchmark on PostgreSQL:
 * each test does with libpq prepared statements (text parameters, text
 * results) the SQL work its Lua twin in workload.lua does through testudo
 * (the same statements, the same values, rows read into C structs), and
 * nothing more.  Its tables raw_bench_* live in the database of testudo's
 * bench_*.
 */
#include "bench.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct raw_db {
    PGconn *conn;
    unsigned next_name; /* prepared statements s1, s2, ... of the session */
    bench_row *rows;    /* rows read by the last fetch (reused) */
    size_t nrows, cap;
    volatile int64_t sink; /* keeps reads from being optimised away */
};

/* The DDL testudo's generate_schemas makes for the workload's models. */
static const char schema[] =
    "CREATE TABLE \"raw_bench_group\" (\"id\" SERIAL PRIMARY KEY NOT NULL, "
    "\"name\" VARCHAR(40) NOT NULL);"
    "CREATE TABLE \"raw_bench_row\" (\"id\" SERIAL PRIMARY KEY NOT NULL, "
    "\"name\" VARCHAR(32) NOT NULL, \"email\" VARCHAR(48) NOT NULL, \"age\" "
    "INT NOT NULL, \"score\" DOUBLE PRECISION NOT NULL, \"balance\" "
    "DECIMAL(12,2) NOT NULL, \"created\" TIMESTAMPTZ NOT NULL, \"active\" "
    "BOOL NOT NULL, \"bio\" TEXT, \"group_id\" INT NOT NULL REFERENCES "
    "\"raw_bench_group\" (\"id\") ON DELETE CASCADE);"
    "CREATE TABLE \"raw_bench_note\" (\"id\" SERIAL PRIMARY KEY NOT NULL, "
    "\"row_id\" INT NOT NULL REFERENCES \"raw_bench_row\" (\"id\") ON DELETE "
    "CASCADE, \"body\" VARCHAR(40) NOT NULL);";

static void die(raw_db *d, const char *what)
{
    fprintf(stderr, "bench: raw postgres: %s: %s", what,
            PQerrorMessage(d->conn));
    exit(1);
}

/* Runs sql (a script, no parameters) as a simple query. */
static void exec(raw_db *d, const char *sql)
{
    PGresult *r = PQexec(d->conn, sql);
    ExecStatusType es = PQresultStatus(r);
    if (es != PGRES_COMMAND_OK && es != PGRES_TUPLES_OK)
        die(d, sql);
    PQclear(r);
}

/* Prepares sql on the server under a new name, written to name. */
static void prepare(raw_db *d, const char *sql, char name[16])
{
    snprintf(name, 16, "s%u", ++d->next_name);
    PGresult *r = PQprepare(d->conn, name, sql, 0, NULL);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        die(d, sql);
    PQclear(r);
}

/* Runs the prepared statement name with n text parameters (NULL: SQL
 * NULL); its result, which the caller clears. */
static PGresult *run(raw_db *d, const char *name, int n, const char *const *pv)
{
    PGresult *r = PQexecPrepared(d->conn, name, n, pv, NULL, NULL, 0);
    ExecStatusType es = PQresultStatus(r);
    if (es != PGRES_COMMAND_OK && es != PGRES_TUPLES_OK)
        die(d, name);
    return r;
}

/* Runs the prepared statement name, which returns no rows. */
static void done(raw_db *d, const char *name, int n, const char *const *pv)
{
    PQclear(run(d, name, n, pv));
}

static void ignore_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

static raw_db *raw_pg_open(const char *target)
{
    raw_db *d = calloc(1, sizeof(*d));
    if (!d)
        return NULL;
    d->conn = PQconnectdb(target);
    if (PQstatus(d->conn) != CONNECTION_OK) {
        fprintf(stderr, "bench: raw postgres: cannot connect: %s",
                PQerrorMessage(d->conn));
        PQfinish(d->conn);
        free(d);
        return NULL;
    }
    /* what testudo sets on every PostgreSQL session */
    PQsetNoticeProcessor(d->conn, ignore_notice, NULL);
    exec(d, "SET TIME ZONE 'UTC'; SET DateStyle TO 'ISO, YMD'");
    exec(d, "DROP TABLE IF EXISTS raw_bench_note, raw_bench_row, "
            "raw_bench_group");
    exec(d, schema);
    char sql[128];
    snprintf(sql, sizeof(sql),
             "INSERT INTO raw_bench_group (id, name) SELECT g, 'group ' || g "
             "FROM generate_series(1, %d) g",
             BENCH_GROUPS);
    exec(d, sql);
    return d;
}

static void raw_pg_close(raw_db *d)
{
    if (!d)
        return;
    PQfinish(d->conn);
    free(d->rows);
    free(d);
}

/* The values of a row and the text forms of its numbers: what its 9
 * parameters point to. */
typedef struct row_params {
    bench_row r;
    char age[24], score[32], group_id[24];
} row_params;

/* Fills p with the values of row i (age + bump) and pv[0..8] with its
 * parameters. */
static void row_args(row_params *p, int64_t i, int64_t bump, const char **pv)
{
    bench_row_values(i, &p->r);
    p->r.age += bump;
    snprintf(p->age, sizeof(p->age), "%lld", (long long)p->r.age);
    snprintf(p->score, sizeof(p->score), "%.17g", p->r.score);
    snprintf(p->group_id, sizeof(p->group_id), "%lld",
             (long long)p->r.group_id);
    pv[0] = p->r.name;
    pv[1] = p->r.email;
    pv[2] = p->age;
    pv[3] = p->score;
    pv[4] = p->r.balance;
    pv[5] = p->r.created;
    pv[6] = p->r.active ? "true" : "false";
    pv[7] = p->r.has_bio ? p->r.bio : NULL;
    pv[8] = p->group_id;
}

#define COLS                                                                   \
    "id, name, email, age, score, balance, created, active, bio, group_id"
#define INSERT_ROW                                                             \
    "INSERT INTO raw_bench_row (name, email, age, score, balance, created, "   \
    "active, bio, group_id) VALUES "

static void copy_text(char *dst, size_t cap, const PGresult *res, int row,
                      int col)
{
    snprintf(dst, cap, "%s", PQgetvalue(res, row, col));
}

/* Reads row i of res (COLS) into r. */
static void read_row(const PGresult *res, int i, bench_row *r)
{
    r->id = strtoll(PQgetvalue(res, i, 0), NULL, 10);
    copy_text(r->name, sizeof(r->name), res, i, 1);
    copy_text(r->email, sizeof(r->email), res, i, 2);
    r->age = strtoll(PQgetvalue(res, i, 3), NULL, 10);
    r->score = strtod(PQgetvalue(res, i, 4), NULL);
    copy_text(r->balance, sizeof(r->balance), res, i, 5);
    copy_text(r->created, sizeof(r->created), res, i, 6);
    r->active = PQgetvalue(res, i, 7)[0] == 't';
    r->has_bio = !PQgetisnull(res, i, 8);
    copy_text(r->bio, sizeof(r->bio), res, i, 8);
    r->group_id = strtoll(PQgetvalue(res, i, 9), NULL, 10);
}

/* Runs the prepared query name, every row read into d->rows. */
static void read_all(raw_db *d, const char *name, int n, const char *const *pv)
{
    PGresult *res = run(d, name, n, pv);
    int nt = PQntuples(res);
    if ((size_t)nt > d->cap) {
        d->cap = (size_t)nt > 1024 ? (size_t)nt : 1024;
        d->rows = realloc(d->rows, d->cap * sizeof(*d->rows));
        if (!d->rows)
            exit(1);
    }
    for (int i = 0; i < nt; i++)
        read_row(res, i, &d->rows[i]);
    d->nrows = (size_t)nt;
    PQclear(res);
    d->sink += (int64_t)d->nrows;
}

/* Prepares sql and runs it once without parameters (a statement of its
 * own, as testudo runs it). */
static void once(raw_db *d, const char *sql)
{
    char st[16];
    prepare(d, sql, st);
    done(d, st, 0, NULL);
}

static void insert_each(raw_db *d, int64_t n)
{
    char st[16];
    prepare(d, INSERT_ROW "($1,$2,$3,$4,$5,$6,$7,$8,$9) RETURNING id", st);
    exec(d, "BEGIN");
    for (int64_t i = 1; i <= n; i++) {
        row_params p;
        const char *pv[9];
        row_args(&p, i, 0, pv);
        PGresult *res = run(d, st, 9, pv);
        p.r.id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        PQclear(res);
        d->sink += p.r.id;
    }
    exec(d, "COMMIT");
}

static void fetch_all(raw_db *d, int64_t n)
{
    char st[16];
    prepare(d, "SELECT " COLS " FROM raw_bench_row", st);
    read_all(d, st, 0, NULL);
}

static void filter_limit(raw_db *d, int64_t n)
{
    char st[16];
    prepare(d,
            "SELECT " COLS " FROM raw_bench_row WHERE id > $1 ORDER BY id "
            "LIMIT 20",
            st);
    for (int64_t k = 0; k < n; k += 20) {
        char id[24];
        const char *pv[1] = {id};
        snprintf(id, sizeof(id), "%lld", (long long)k);
        read_all(d, st, 1, pv);
    }
}

static void get_pk(raw_db *d, int64_t n)
{
    char st[16];
    prepare(d, "SELECT " COLS " FROM raw_bench_row WHERE id = $1 LIMIT 2", st);
    for (int64_t k = 1; k <= n; k++) {
        char id[24];
        const char *pv[1] = {id};
        snprintf(id, sizeof(id), "%lld", (long long)k);
        read_all(d, st, 1, pv);
    }
}

static void values_list(raw_db *d, int64_t n)
{
    char st[16];
    prepare(d, "SELECT id, name, age FROM raw_bench_row", st);
    PGresult *res = run(d, st, 0, NULL);
    for (int i = 0, nt = PQntuples(res); i < nt; i++) {
        char name[32];
        d->sink += strtoll(PQgetvalue(res, i, 0), NULL, 10);
        copy_text(name, sizeof(name), res, i, 1);
        d->sink += strtoll(PQgetvalue(res, i, 2), NULL, 10) + name[0];
    }
    PQclear(res);
}

/* Streams the rows as iter() does: single-row mode, one result a row. */
static void iterate(raw_db *d, int64_t n)
{
    char st[16];
    prepare(d, "SELECT " COLS " FROM raw_bench_row", st);
    if (!PQsendQueryPrepared(d->conn, st, 0, NULL, NULL, NULL, 0) ||
        !PQsetSingleRowMode(d->conn))
        die(d, st);
    PGresult *res;
    while ((res = PQgetResult(d->conn)) != NULL) {
        ExecStatusType es = PQresultStatus(res);
        if (es == PGRES_SINGLE_TUPLE) {
            bench_row r;
            read_row(res, 0, &r);
            d->sink += r.age;
        } else if (es != PGRES_TUPLES_OK) {
            die(d, st);
        }
        PQclear(res);
    }
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
    char st[16];
    prepare(d, "SELECT id, name FROM raw_bench_group", st);
    PGresult *res = run(d, st, 0, NULL);
    size_t ng = 0;
    int64_t gid[BENCH_GROUPS];
    for (int i = 0, nt = PQntuples(res); i < nt && ng < BENCH_GROUPS; i++) {
        char name[40];
        gid[ng++] = strtoll(PQgetvalue(res, i, 0), NULL, 10);
        copy_text(name, sizeof(name), res, i, 1);
        d->sink += name[0];
    }
    PQclear(res);
    char *sql = malloc(64 + 24 * (size_t)(n > BENCH_GROUPS ? n : BENCH_GROUPS));
    if (!sql)
        exit(1);
    size_t len = (size_t)sprintf(
        sql, "SELECT " COLS " FROM raw_bench_row WHERE group_id IN (");
    for (size_t i = 0; i < ng; i++)
        len +=
            (size_t)sprintf(sql + len, i ? ",%lld" : "%lld", (long long)gid[i]);
    strcpy(sql + len, ")");
    prepare(d, sql, st);
    read_all(d, st, 0, NULL);
    if (d->nrows) { /* (an empty IN list is no SQL) */
        len = (size_t)sprintf(sql, "SELECT id, row_id, body FROM "
                                   "raw_bench_note WHERE row_id IN (");
        for (size_t i = 0; i < d->nrows; i++)
            len += (size_t)sprintf(sql + len, i ? ",%lld" : "%lld",
                                   (long long)d->rows[i].id);
        strcpy(sql + len, ")");
        prepare(d, sql, st);
        res = run(d, st, 0, NULL);
        for (int i = 0, nt = PQntuples(res); i < nt; i++) {
            char body[40];
            d->sink += strtoll(PQgetvalue(res, i, 0), NULL, 10);
            d->sink += strtoll(PQgetvalue(res, i, 1), NULL, 10);
            copy_text(body, sizeof(body), res, i, 2);
        }
        PQclear(res);
    }
    free(sql);
}

static void update_each(raw_db *d, int64_t n)
{
    char st[16];
    prepare(d,
            "UPDATE raw_bench_row SET name=$1, email=$2, age=$3, score=$4, "
            "balance=$5, created=$6, active=$7, bio=$8, group_id=$9 WHERE "
            "id=$10",
            st);
    exec(d, "BEGIN");
    for (int64_t i = 1; i <= n; i++) {
        row_params p;
        const char *pv[10];
        char id[24];
        row_args(&p, i, 1, pv);
        snprintf(id, sizeof(id), "%lld", (long long)i);
        pv[9] = id;
        done(d, st, 10, pv);
    }
    exec(d, "COMMIT");
}

/* (testudo sends the increment and the flag as parameters) */
static void update_qs(raw_db *d, int64_t n)
{
    char st[16];
    const char *pv[2] = {"1", "true"};
    prepare(d, "UPDATE raw_bench_row SET score = score + $1 WHERE active = $2",
            st);
    done(d, st, 2, pv);
}

/* (the notes go first, untimed: each delete would scan them for the
 * cascade, on both sides alike, hiding the cost being measured) */
static void delete_prep(raw_db *d, int64_t n)
{
    exec(d, "DELETE FROM raw_bench_note");
}

static void delete_each(raw_db *d, int64_t n)
{
    char st[16];
    prepare(d, "DELETE FROM raw_bench_row WHERE id = $1", st);
    exec(d, "BEGIN");
    for (int64_t i = 1; i <= n; i++) {
        char id[24];
        const char *pv[1] = {id};
        snprintf(id, sizeof(id), "%lld", (long long)i);
        done(d, st, 1, pv);
    }
    exec(d, "COMMIT");
}

/* Prepares the INSERT of rows rows, its keys returned. */
static void prepare_insert(raw_db *d, int rows, char name[16])
{
    char *sql = malloc(256 + (size_t)rows * 48);
    if (!sql)
        exit(1);
    size_t len = (size_t)sprintf(sql, INSERT_ROW);
    for (int k = 0; k < rows; k++) {
        int p = 9 * k;
        len += (size_t)sprintf(
            sql + len, "%s($%d,$%d,$%d,$%d,$%d,$%d,$%d,$%d,$%d)", k ? "," : "",
            p + 1, p + 2, p + 3, p + 4, p + 5, p + 6, p + 7, p + 8, p + 9);
    }
    strcpy(sql + len, " RETURNING id");
    prepare(d, sql, name);
    free(sql);
}

/* Inserts rows first..first+rows-1 with the prepared statement name (of
 * that many rows), reading their keys back. */
static void insert_rows(raw_db *d, const char *name, int64_t first, int rows,
                        row_params *p, const char **pv)
{
    for (int k = 0; k < rows; k++)
        row_args(&p[k], first + k, 0, pv + 9 * k);
    PGresult *res = run(d, name, 9 * rows, pv);
    for (int i = 0, nt = PQntuples(res); i < nt; i++)
        d->sink += strtoll(PQgetvalue(res, i, 0), NULL, 10);
    PQclear(res);
}

/* As testudo's bulk_create: multi-row INSERTs of BATCH rows (one
 * statement prepared once), the rest in one INSERT of its own, the keys
 * read back; in a transaction when there is more than one statement. */
static void bulk_create(raw_db *d, int64_t n)
{
    enum { BATCH = 100 };
    row_params *p = malloc(BATCH * sizeof(*p));
    const char **pv = malloc(9 * BATCH * sizeof(*pv));
    if (!p || !pv)
        exit(1);
    int per = n < BATCH ? (int)n : BATCH;
    bool tx = n > per;
    char full[16], rest[16];
    prepare_insert(d, per, full);
    if (tx)
        exec(d, "BEGIN");
    int64_t i = 1;
    for (; i + per - 1 <= n; i += per)
        insert_rows(d, full, i, per, p, pv);
    if (i <= n) {
        prepare_insert(d, (int)(n - i + 1), rest);
        insert_rows(d, rest, i, (int)(n - i + 1), p, pv);
    }
    if (tx)
        exec(d, "COMMIT");
    free(p);
    free(pv);
}

static void delete_qs(raw_db *d, int64_t n)
{
    once(d, "DELETE FROM raw_bench_row");
}

static const raw_test raw_pg_tests[] = {
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

const raw_backend raw_postgres = {"postgres", raw_pg_open, raw_pg_close,
                                  raw_pg_tests};
