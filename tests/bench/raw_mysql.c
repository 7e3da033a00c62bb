/*
 * raw_mysql.c -- the raw-driver baseline of the benchmark on MariaDB/MySQL
 * (libmariadb): each test does with server-side prepared statements the
 * SQL work its Lua twin in workload.lua does through testudo (the same
 * statements, the same values, rows read into C structs through typed
 * result bindings), and nothing more.  The session is set up as testudo's
 * (utf8mb4, time_zone +00:00, the same client flags); results are read
 * unbuffered, row by row, straight into the bound buffers.
 */
#include "bench.h"

#include <mysql.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct raw_db {
    MYSQL *conn;
    bench_row *rows; /* rows read by the last fetch (reused) */
    size_t nrows, cap;
    volatile int64_t sink; /* keeps reads from being optimised away */
};

/* The DDL testudo's generate_schemas makes for the workload's models. */
static const char *const schema[] = {
    "CREATE TABLE `raw_bench_group` (`id` INT PRIMARY KEY AUTO_INCREMENT NOT "
    "NULL, `name` VARCHAR(40) NOT NULL) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 "
    "COLLATE=utf8mb4_bin",
    "CREATE TABLE `raw_bench_row` (`id` INT PRIMARY KEY AUTO_INCREMENT NOT "
    "NULL, `name` VARCHAR(32) NOT NULL, `email` VARCHAR(48) NOT NULL, `age` "
    "INT NOT NULL, `score` DOUBLE NOT NULL, `balance` DECIMAL(12,2) NOT NULL, "
    "`created` DATETIME(6) NOT NULL, `active` BOOL NOT NULL, `bio` LONGTEXT, "
    "`group_id` INT NOT NULL REFERENCES `raw_bench_group` (`id`) ON DELETE "
    "CASCADE) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
    "CREATE TABLE `raw_bench_note` (`id` INT PRIMARY KEY AUTO_INCREMENT NOT "
    "NULL, `row_id` INT NOT NULL REFERENCES `raw_bench_row` (`id`) ON DELETE "
    "CASCADE, `body` VARCHAR(40) NOT NULL) ENGINE=InnoDB DEFAULT "
    "CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
};

#define COLS                                                                   \
    "id, name, email, age, score, balance, created, active, bio, group_id"
#define INSERT_ROW                                                             \
    "INSERT INTO raw_bench_row (name, email, age, score, balance, created, "   \
    "active, bio, group_id) VALUES "
#define ROW_PARAMS "(?,?,?,?,?,?,?,?,?)"

/* The values of one row as statement parameters: the buffers the
 * parameter bindings point at, filled again before each execution. */
typedef struct row_in {
    bench_row r;
    signed char active;
    my_bool bio_null;
    unsigned long len[5]; /* name, email, balance, created, bio */
} row_in;

/* The buffers a result row of COLS is fetched into. */
typedef struct row_out {
    bench_row r;
    MYSQL_TIME created;
    signed char active;
    my_bool bio_null;
    MYSQL_BIND b[10];
} row_out;

static void die(raw_db *d, const char *what)
{
    fprintf(stderr, "bench: raw mysql: %s: %s\n", what, mysql_error(d->conn));
    exit(1);
}

static void die_stmt(MYSQL_STMT *st, const char *what)
{
    fprintf(stderr, "bench: raw mysql: %s: %s\n", what, mysql_stmt_error(st));
    exit(1);
}

static void exec(raw_db *d, const char *sql)
{
    if (mysql_real_query(d->conn, sql, (unsigned long)strlen(sql)))
        die(d, sql);
}

static MYSQL_STMT *prepare(raw_db *d, const char *sql)
{
    MYSQL_STMT *st = mysql_stmt_init(d->conn);
    if (!st)
        die(d, "mysql_stmt_init");
    if (mysql_stmt_prepare(st, sql, (unsigned long)strlen(sql)))
        die_stmt(st, sql);
    return st;
}

static void execute(MYSQL_STMT *st)
{
    if (mysql_stmt_execute(st))
        die_stmt(st, "execute");
}

static void bind_params(MYSQL_STMT *st, MYSQL_BIND *b)
{
    if (mysql_stmt_bind_param(st, b))
        die_stmt(st, "bind_param");
}

static void bind_results(MYSQL_STMT *st, MYSQL_BIND *b)
{
    if (mysql_stmt_bind_result(st, b))
        die_stmt(st, "bind_result");
}

/* Fetches the next row into the bound buffers; false at the end. */
static bool fetch(MYSQL_STMT *st)
{
    int rc = mysql_stmt_fetch(st);
    if (rc == MYSQL_NO_DATA)
        return false;
    if (rc != 0)
        die_stmt(st,
                 rc == MYSQL_DATA_TRUNCATED ? "fetch (truncated)" : "fetch");
    return true;
}

static void bind_text(MYSQL_BIND *b, char *buf, unsigned long cap,
                      unsigned long *len)
{
    b->buffer_type = MYSQL_TYPE_STRING;
    b->buffer = buf;
    b->buffer_length = cap;
    b->length = len;
}

static void bind_int(MYSQL_BIND *b, int64_t *v)
{
    b->buffer_type = MYSQL_TYPE_LONGLONG;
    b->buffer = v;
}

/* Points the 9 parameter bindings b (name .. group_id) at in. */
static void bind_row_in(MYSQL_BIND *b, row_in *in)
{
    bench_row *r = &in->r;
    memset(b, 0, 9 * sizeof(*b));
    bind_text(&b[0], r->name, sizeof(r->name), &in->len[0]);
    bind_text(&b[1], r->email, sizeof(r->email), &in->len[1]);
    bind_int(&b[2], &r->age);
    b[3].buffer_type = MYSQL_TYPE_DOUBLE;
    b[3].buffer = &r->score;
    bind_text(&b[4], r->balance, sizeof(r->balance), &in->len[2]);
    bind_text(&b[5], r->created, sizeof(r->created), &in->len[3]);
    b[6].buffer_type = MYSQL_TYPE_TINY;
    b[6].buffer = &in->active;
    bind_text(&b[7], r->bio, sizeof(r->bio), &in->len[4]);
    b[7].is_null = &in->bio_null;
    bind_int(&b[8], &r->group_id);
}

/* Fills in with the values of row i (age plus age_delta). */
static void fill_row_in(row_in *in, int64_t i, int64_t age_delta)
{
    bench_row *r = &in->r;
    bench_row_values(i, r);
    r->age += age_delta;
    in->active = (signed char)r->active;
    in->bio_null = !r->has_bio;
    in->len[0] = (unsigned long)strlen(r->name);
    in->len[1] = (unsigned long)strlen(r->email);
    in->len[2] = (unsigned long)strlen(r->balance);
    in->len[3] = (unsigned long)strlen(r->created);
    in->len[4] = r->has_bio ? (unsigned long)strlen(r->bio) : 0;
}

/* Binds the result columns (COLS) of st to out. */
static void bind_row_out(MYSQL_STMT *st, row_out *out)
{
    bench_row *r = &out->r;
    MYSQL_BIND *b = out->b;
    memset(b, 0, sizeof(out->b));
    bind_int(&b[0], &r->id);
    bind_text(&b[1], r->name, sizeof(r->name), NULL);
    bind_text(&b[2], r->email, sizeof(r->email), NULL);
    bind_int(&b[3], &r->age);
    b[4].buffer_type = MYSQL_TYPE_DOUBLE;
    b[4].buffer = &r->score;
    bind_text(&b[5], r->balance, sizeof(r->balance), NULL);
    b[6].buffer_type = MYSQL_TYPE_DATETIME;
    b[6].buffer = &out->created;
    b[7].buffer_type = MYSQL_TYPE_TINY;
    b[7].buffer = &out->active;
    bind_text(&b[8], r->bio, sizeof(r->bio), NULL);
    b[8].is_null = &out->bio_null;
    bind_int(&b[9], &r->group_id);
    bind_results(st, b);
}

/* The row just fetched into out, as a bench_row in *r. */
static void read_row(const row_out *out, bench_row *r)
{
    const MYSQL_TIME *t = &out->created;
    *r = out->r;
    snprintf(r->created, sizeof(r->created), "%04u-%02u-%02u %02u:%02u:%02u",
             t->year % 10000, t->month % 100, t->day % 100, t->hour % 100,
             t->minute % 100, t->second % 100);
    r->active = out->active != 0;
    r->has_bio = !out->bio_null;
    if (!r->has_bio)
        r->bio[0] = '\0';
}

/* Runs st (its results bound to out) and reads every row into d->rows. */
static void read_all(raw_db *d, MYSQL_STMT *st, const row_out *out)
{
    execute(st);
    d->nrows = 0;
    while (fetch(st)) {
        if (d->nrows == d->cap) {
            d->cap = d->cap ? 2 * d->cap : 1024;
            d->rows = realloc(d->rows, d->cap * sizeof(*d->rows));
            if (!d->rows)
                exit(1);
        }
        read_row(out, &d->rows[d->nrows++]);
    }
    d->sink += (int64_t)d->nrows;
}

/* Splits mysql://user:password@host:port/database into its parts (the
 * password and port optional); false when it is not such a URL. */
static bool parse_url(const char *url, char *user, char *password, char *host,
                      unsigned *port, char *database)
{
    const char *p = strstr(url, "://");
    if (!p)
        return false;
    p += 3;
    const char *at = strrchr(p, '@');
    user[0] = password[0] = '\0';
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        const char *uend = colon ? colon : at;
        snprintf(user, 128, "%.*s", (int)(uend - p), p);
        if (colon)
            snprintf(password, 128, "%.*s", (int)(at - colon - 1), colon + 1);
        p = at + 1;
    }
    size_t hlen = strcspn(p, ":/?");
    snprintf(host, 128, "%.*s", (int)hlen, p);
    p += hlen;
    *port = 3306;
    if (*p == ':') {
        char *end;
        *port = (unsigned)strtoul(p + 1, &end, 10);
        p = end;
    }
    database[0] = '\0';
    if (*p == '/')
        snprintf(database, 128, "%.*s", (int)strcspn(p + 1, "?"), p + 1);
    return host[0] && database[0];
}

static raw_db *raw_mysql_open(const char *target)
{
    char user[128], password[128], host[128], database[128];
    unsigned port;
    if (!parse_url(target, user, password, host, &port, database)) {
        fprintf(stderr, "bench: raw mysql: not a mysql:// URL: %s\n", target);
        return NULL;
    }
    raw_db *d = calloc(1, sizeof(*d));
    if (!d || !(d->conn = mysql_init(NULL))) {
        fprintf(stderr, "bench: raw mysql: out of memory\n");
        free(d);
        return NULL;
    }
    /* what testudo sets on every MySQL session */
    mysql_options(d->conn, MYSQL_SET_CHARSET_NAME, "utf8mb4");
    mysql_options(d->conn, MYSQL_INIT_COMMAND, "SET time_zone = '+00:00'");
    if (!mysql_real_connect(d->conn, host, user, password, database, port, NULL,
                            CLIENT_FOUND_ROWS | CLIENT_MULTI_STATEMENTS)) {
        fprintf(stderr, "bench: raw mysql: cannot connect: %s\n",
                mysql_error(d->conn));
        mysql_close(d->conn);
        free(d);
        return NULL;
    }
    exec(d, "SET FOREIGN_KEY_CHECKS = 0");
    exec(d, "DROP TABLE IF EXISTS raw_bench_note");
    exec(d, "DROP TABLE IF EXISTS raw_bench_row");
    exec(d, "DROP TABLE IF EXISTS raw_bench_group");
    exec(d, "SET FOREIGN_KEY_CHECKS = 1");
    for (size_t i = 0; i < sizeof(schema) / sizeof(*schema); i++)
        exec(d, schema[i]);
    MYSQL_STMT *g =
        prepare(d, "INSERT INTO raw_bench_group (id, name) VALUES (?, ?)");
    int64_t id;
    char name[16];
    unsigned long len;
    MYSQL_BIND b[2];
    memset(b, 0, sizeof(b));
    bind_int(&b[0], &id);
    bind_text(&b[1], name, sizeof(name), &len);
    bind_params(g, b);
    exec(d, "BEGIN");
    for (id = 1; id <= BENCH_GROUPS; id++) {
        len = (unsigned long)snprintf(name, sizeof(name), "group %d", (int)id);
        execute(g);
    }
    exec(d, "COMMIT");
    mysql_stmt_close(g);
    return d;
}

static void raw_mysql_close(raw_db *d)
{
    if (!d)
        return;
    mysql_close(d->conn);
    free(d->rows);
    free(d);
}

static void insert_each(raw_db *d, int64_t n)
{
    MYSQL_STMT *st = prepare(d, INSERT_ROW ROW_PARAMS);
    row_in in;
    MYSQL_BIND b[9];
    bind_row_in(b, &in);
    bind_params(st, b);
    exec(d, "BEGIN");
    for (int64_t i = 1; i <= n; i++) {
        fill_row_in(&in, i, 0);
        execute(st);
        in.r.id = (int64_t)mysql_stmt_insert_id(st);
        d->sink += in.r.id;
    }
    exec(d, "COMMIT");
    mysql_stmt_close(st);
}

static void fetch_all(raw_db *d, int64_t n)
{
    MYSQL_STMT *st = prepare(d, "SELECT " COLS " FROM raw_bench_row");
    row_out out;
    bind_row_out(st, &out);
    read_all(d, st, &out);
    mysql_stmt_close(st);
}

static void filter_limit(raw_db *d, int64_t n)
{
    MYSQL_STMT *st = prepare(d, "SELECT " COLS " FROM raw_bench_row WHERE id "
                                "> ? ORDER BY id LIMIT 20");
    int64_t k;
    MYSQL_BIND p;
    memset(&p, 0, sizeof(p));
    bind_int(&p, &k);
    bind_params(st, &p);
    row_out out;
    bind_row_out(st, &out);
    for (k = 0; k < n; k += 20)
        read_all(d, st, &out);
    mysql_stmt_close(st);
}

static void get_pk(raw_db *d, int64_t n)
{
    MYSQL_STMT *st =
        prepare(d, "SELECT " COLS " FROM raw_bench_row WHERE id = ? LIMIT 2");
    int64_t k;
    MYSQL_BIND p;
    memset(&p, 0, sizeof(p));
    bind_int(&p, &k);
    bind_params(st, &p);
    row_out out;
    bind_row_out(st, &out);
    for (k = 1; k <= n; k++)
        read_all(d, st, &out);
    mysql_stmt_close(st);
}

static void values_list(raw_db *d, int64_t n)
{
    MYSQL_STMT *st = prepare(d, "SELECT id, name, age FROM raw_bench_row");
    int64_t id, age;
    char name[32];
    MYSQL_BIND b[3];
    memset(b, 0, sizeof(b));
    bind_int(&b[0], &id);
    bind_text(&b[1], name, sizeof(name), NULL);
    bind_int(&b[2], &age);
    bind_results(st, b);
    execute(st);
    while (fetch(st))
        d->sink += id + age + name[0];
    mysql_stmt_close(st);
}

static void iterate(raw_db *d, int64_t n)
{
    MYSQL_STMT *st = prepare(d, "SELECT " COLS " FROM raw_bench_row");
    row_out out;
    bind_row_out(st, &out);
    execute(st);
    while (fetch(st)) {
        bench_row r;
        read_row(&out, &r);
        d->sink += r.age;
    }
    mysql_stmt_close(st);
}

static void prefetch_prep(raw_db *d, int64_t n)
{
    exec(d, "INSERT INTO raw_bench_note (row_id, body) SELECT id, "
            "CONCAT('note ', id) FROM raw_bench_row");
}

/* An IN list of count parameters, "(?,?,...)", after the prefix. */
static char *in_list(const char *prefix, size_t count)
{
    size_t len = strlen(prefix);
    char *sql = malloc(len + 2 * count + 2);
    if (!sql)
        exit(1);
    memcpy(sql, prefix, len);
    sql[len++] = '(';
    for (size_t i = 0; i < count; i++) {
        sql[len++] = '?';
        sql[len++] = i + 1 < count ? ',' : ')';
    }
    sql[len] = '\0';
    return sql;
}

/* Groups, their rows and the rows' notes: three queries, the later two
 * over the ids the earlier one found (IN lists of parameters), as
 * prefetch does. */
static void prefetch(raw_db *d, int64_t n)
{
    MYSQL_STMT *g = prepare(d, "SELECT id, name FROM raw_bench_group");
    int64_t id, gid[BENCH_GROUPS];
    char name[40];
    size_t ng = 0;
    MYSQL_BIND gb[2];
    memset(gb, 0, sizeof(gb));
    bind_int(&gb[0], &id);
    bind_text(&gb[1], name, sizeof(name), NULL);
    bind_results(g, gb);
    execute(g);
    while (fetch(g))
        if (ng < BENCH_GROUPS)
            gid[ng++] = id;
    mysql_stmt_close(g);
    if (!ng)
        return;

    char *sql =
        in_list("SELECT " COLS " FROM raw_bench_row WHERE group_id IN ", ng);
    MYSQL_STMT *r = prepare(d, sql);
    free(sql);
    MYSQL_BIND pb[BENCH_GROUPS];
    memset(pb, 0, sizeof(pb));
    for (size_t i = 0; i < ng; i++)
        bind_int(&pb[i], &gid[i]);
    bind_params(r, pb);
    row_out out;
    bind_row_out(r, &out);
    read_all(d, r, &out);
    mysql_stmt_close(r);
    if (!d->nrows)
        return;

    sql =
        in_list("SELECT id, row_id, body FROM raw_bench_note WHERE row_id IN ",
                d->nrows);
    MYSQL_STMT *nt = prepare(d, sql);
    free(sql);
    MYSQL_BIND *nb = calloc(d->nrows, sizeof(*nb));
    if (!nb)
        exit(1);
    for (size_t i = 0; i < d->nrows; i++)
        bind_int(&nb[i], &d->rows[i].id);
    bind_params(nt, nb);
    int64_t note_id, row_id;
    char body[40];
    MYSQL_BIND rb[3];
    memset(rb, 0, sizeof(rb));
    bind_int(&rb[0], &note_id);
    bind_int(&rb[1], &row_id);
    bind_text(&rb[2], body, sizeof(body), NULL);
    bind_results(nt, rb);
    execute(nt);
    while (fetch(nt))
        d->sink += row_id + body[0];
    mysql_stmt_close(nt);
    free(nb);
}

static void update_each(raw_db *d, int64_t n)
{
    MYSQL_STMT *st = prepare(
        d, "UPDATE raw_bench_row SET name=?, email=?, age=?, score=?, "
           "balance=?, created=?, active=?, bio=?, group_id=? WHERE id=?");
    row_in in;
    MYSQL_BIND b[10];
    bind_row_in(b, &in);
    memset(&b[9], 0, sizeof(b[9]));
    bind_int(&b[9], &in.r.id);
    bind_params(st, b);
    exec(d, "BEGIN");
    for (int64_t i = 1; i <= n; i++) {
        fill_row_in(&in, i, 1);
        in.r.id = i;
        execute(st);
    }
    exec(d, "COMMIT");
    mysql_stmt_close(st);
}

static void update_qs(raw_db *d, int64_t n)
{
    MYSQL_STMT *st = prepare(d, "UPDATE raw_bench_row SET score = score + ? "
                                "WHERE active = ?");
    int64_t one = 1, yes = 1;
    MYSQL_BIND b[2];
    memset(b, 0, sizeof(b));
    bind_int(&b[0], &one);
    bind_int(&b[1], &yes);
    bind_params(st, b);
    execute(st);
    mysql_stmt_close(st);
}

/* (the notes go first, untimed: each delete would scan them for the
 * cascade, on both sides alike, hiding the cost being measured) */
static void delete_prep(raw_db *d, int64_t n)
{
    exec(d, "DELETE FROM raw_bench_note");
}

static void delete_each(raw_db *d, int64_t n)
{
    MYSQL_STMT *st = prepare(d, "DELETE FROM raw_bench_row WHERE id = ?");
    int64_t i;
    MYSQL_BIND p;
    memset(&p, 0, sizeof(p));
    bind_int(&p, &i);
    bind_params(st, &p);
    exec(d, "BEGIN");
    for (i = 1; i <= n; i++)
        execute(st);
    exec(d, "COMMIT");
    mysql_stmt_close(st);
}

enum { BATCH = 100 };

/* A prepared multi-row INSERT of count rows, its 9 * count parameters
 * bound to in[0 .. count - 1] (b holds the bindings). */
static MYSQL_STMT *insert_rows(raw_db *d, int count, row_in *in, MYSQL_BIND *b)
{
    size_t len = strlen(INSERT_ROW), plen = strlen(ROW_PARAMS);
    char *sql = malloc(len + (size_t)count * (plen + 1) + 1);
    if (!sql)
        exit(1);
    memcpy(sql, INSERT_ROW, len);
    for (int k = 0; k < count; k++) {
        if (k)
            sql[len++] = ',';
        memcpy(sql + len, ROW_PARAMS, plen);
        len += plen;
    }
    sql[len] = '\0';
    MYSQL_STMT *st = prepare(d, sql);
    free(sql);
    for (int k = 0; k < count; k++)
        bind_row_in(&b[9 * k], &in[k]);
    bind_params(st, b);
    return st;
}

/* One multi-row INSERT per batch of BATCH rows, and one of the rows left
 * over (bulk_create's). */
static void bulk_create(raw_db *d, int64_t n)
{
    row_in *in = malloc(BATCH * sizeof(*in));
    MYSQL_BIND *b = malloc(9 * BATCH * sizeof(*b));
    if (!in || !b)
        exit(1);
    exec(d, "BEGIN");
    int64_t i = 1;
    if (n >= BATCH) {
        MYSQL_STMT *full = insert_rows(d, BATCH, in, b);
        for (; i + BATCH - 1 <= n; i += BATCH) {
            for (int k = 0; k < BATCH; k++)
                fill_row_in(&in[k], i + k, 0);
            execute(full);
        }
        mysql_stmt_close(full);
    }
    if (i <= n) {
        int rest = (int)(n - i + 1);
        MYSQL_STMT *last = insert_rows(d, rest, in, b);
        for (int k = 0; k < rest; k++)
            fill_row_in(&in[k], i + k, 0);
        execute(last);
        mysql_stmt_close(last);
    }
    exec(d, "COMMIT");
    free(in);
    free(b);
}

static void delete_qs(raw_db *d, int64_t n)
{
    MYSQL_STMT *st = prepare(d, "DELETE FROM raw_bench_row");
    execute(st);
    mysql_stmt_close(st);
}

static const raw_test raw_mysql_tests[] = {
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

const raw_backend raw_mysql = {"mysql", raw_mysql_open, raw_mysql_close,
                               raw_mysql_tests};
