/*
 * bench.c -- `make bench`: each test of tests/bench/workload.lua (testudo,
 * through its Lua API) beside its raw-driver twin (raw_sqlite.c), in one
 * process, alternating which goes first, several runs; prints the median
 * rows per second of each and their ratio (testudo's time over the raw
 * driver's), and the geometric mean of the ratios.
 *
 *   bench [--n N] [--runs R] [--target memory|file|URL] [--workload FILE]
 *         [--verbose]    (each run's times on stderr)
 *
 * A postgres:// or mysql:// URL as the target benchmarks that server
 * (testudo's tables bench_*, the raw driver's raw_bench_*, one database).
 *
 * Timing assertions belong here, never in the test suite.
 */
#include "bench.h"

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int luaopen_testudo(lua_State *L);

#define MAX_TESTS 32
#define MAX_RUNS 32

/* The rows' values, made before the first run (untimed) as the Lua side
 * makes its tables of values in each test's prep: both sides time the
 * ORM's or the driver's work, not the making of test data. */
static bench_row *made;
static int64_t nmade;

static void make_row(int64_t i, bench_row *r)
{
    memset(r, 0, sizeof(*r));
    snprintf(r->name, sizeof(r->name), "name %lld", (long long)i);
    snprintf(r->email, sizeof(r->email), "user%lld@example.com", (long long)i);
    r->age = 18 + i % 60;
    r->score = (double)i * 0.5;
    snprintf(r->balance, sizeof(r->balance), "%lld.%02d", (long long)i,
             (int)(i % 4) * 25);
    snprintf(r->created, sizeof(r->created), "2024-01-%02d %02d:%02d:%02d",
             (int)(1 + i / 86400 % 28), (int)(i / 3600 % 24),
             (int)(i / 60 % 60), (int)(i % 60));
    r->active = i % 2 == 0;
    r->has_bio = i % 3 != 0;
    if (r->has_bio)
        snprintf(r->bio, sizeof(r->bio), "bio of row %lld", (long long)i);
    r->group_id = 1 + i % 100;
}

void bench_row_values(int64_t i, bench_row *r)
{
    if (i >= 1 && i <= nmade)
        *r = made[i - 1];
    else
        make_row(i, r);
}

/* Makes the values of rows 1..n ahead (see made). */
static void make_rows(int64_t n)
{
    if (!(made = calloc((size_t)n, sizeof(*made))))
        return;
    for (int64_t i = 1; i <= n; i++)
        make_row(i, &made[i - 1]);
    nmade = n;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    double tmp[MAX_RUNS];
    memcpy(tmp, v, (size_t)n * sizeof(*v));
    qsort(tmp, (size_t)n, sizeof(*tmp), cmp_double);
    return n % 2 ? tmp[n / 2] : (tmp[n / 2 - 1] + tmp[n / 2]) / 2;
}

/* Calls W[name](args...) (a function of the workload table at index 1,
 * or of the test table at t); exits on an error. */
static void call(lua_State *L, int nargs)
{
    if (lua_pcall(L, nargs, 0, 0) != LUA_OK) {
        fprintf(stderr, "bench: %s\n", lua_tostring(L, -1));
        exit(1);
    }
}

/* Runs field fn of test t (the table at index t) with n; its time. */
static double run_lua(lua_State *L, int t, const char *fn, int64_t n)
{
    if (lua_getfield(L, t, fn) != LUA_TFUNCTION) {
        lua_pop(L, 1);
        return 0;
    }
    lua_pushinteger(L, n);
    /* no garbage left by the prep or the test before is collected on
     * this test's time */
    lua_gc(L, LUA_GCCOLLECT);
    double t0 = now();
    call(L, 1);
    return now() - t0;
}

static double run_raw(const raw_test *t, raw_db *db, int64_t n)
{
    if (t->prep)
        t->prep(db, n);
    double t0 = now();
    t->run(db, n);
    return now() - t0;
}

/* The URL testudo opens and the target the raw side opens for target,
 * in run r (files: new ones in TMPDIR; a server: its URL for both). */
static void targets(const char *target, int r, char *url, size_t ucap,
                    char *raw, size_t rcap)
{
    if (strstr(target, "://")) {
        snprintf(url, ucap, "%s", target);
        snprintf(raw, rcap, "%s", target);
        return;
    }
    if (strcmp(target, "memory") == 0) {
        snprintf(url, ucap, "sqlite://:memory:");
        snprintf(raw, rcap, "memory");
        return;
    }
    const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    char base[256];
    snprintf(base, sizeof(base), "%s/testudo-bench-%d-%d", tmp, (int)getpid(),
             r);
    snprintf(url, ucap, "sqlite://%s.orm.db", base);
    snprintf(raw, rcap, "%s.raw.db", base);
    unlink(url + 9);
    unlink(raw);
}

int main(int argc, char **argv)
{
    int64_t n = 10000;
    int runs = 5;
    const char *target = "memory", *workload = "tests/bench/workload.lua";
    bool verbose = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--n") && i + 1 < argc)
            n = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--runs") && i + 1 < argc)
            runs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--target") && i + 1 < argc)
            target = argv[++i];
        else if (!strcmp(argv[i], "--workload") && i + 1 < argc)
            workload = argv[++i];
        else if (!strcmp(argv[i], "--verbose"))
            verbose = true;
        else {
            fprintf(stderr, "usage: bench [--n N] [--runs R] [--target "
                            "memory|file|URL] [--workload FILE] "
                            "[--verbose]\n");
            return 2;
        }
    }
    if (runs < 1 || runs > MAX_RUNS || n < 20) {
        fprintf(stderr, "bench: runs 1..%d, n >= 20\n", MAX_RUNS);
        return 2;
    }
    const raw_backend *be = &raw_sqlite;
    const char *title = "SQLite";
    if (!strncmp(target, "postgres", 8)) {
        be = &raw_postgres;
        title = "PostgreSQL";
    } else if (!strncmp(target, "mysql", 5)) {
        be = &raw_mysql;
        title = "MariaDB/MySQL";
    }
    bool files = !strstr(target, "://") && strcmp(target, "memory") != 0;
    make_rows(n);
    lua_State *L = luaL_newstate();
    luaL_openlibs(L);
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
    lua_pushcfunction(L, luaopen_testudo);
    lua_setfield(L, -2, "testudo");
    lua_pop(L, 1);
    if (luaL_dofile(L, workload) != LUA_OK) {
        fprintf(stderr, "bench: %s\n", lua_tostring(L, -1));
        return 1;
    }
    int W = lua_gettop(L);
    lua_getfield(L, W, "tests");
    int tests = lua_gettop(L);
    int ntests = (int)lua_rawlen(L, tests);
    static double t_raw[MAX_TESTS][MAX_RUNS], t_orm[MAX_TESTS][MAX_RUNS];
    const raw_test *raw_of[MAX_TESTS];
    for (int k = 0; k < ntests && k < MAX_TESTS; k++) {
        lua_rawgeti(L, tests, k + 1);
        lua_getfield(L, -1, "name");
        const char *name = lua_tostring(L, -1);
        raw_of[k] = NULL;
        for (const raw_test *t = be->tests; t->name; t++)
            if (!strcmp(t->name, name))
                raw_of[k] = t;
        if (!raw_of[k]) {
            fprintf(stderr, "bench: no raw twin for '%s'\n", name);
            return 1;
        }
        lua_pop(L, 2);
    }
    for (int r = 0; r < runs; r++) {
        char url[512], rawpath[512];
        targets(target, r, url, sizeof(url), rawpath, sizeof(rawpath));
        raw_db *db = be->open(rawpath);
        if (!db)
            return 1;
        lua_getfield(L, W, "open");
        lua_pushstring(L, url);
        call(L, 1);
        for (int k = 0; k < ntests && k < MAX_TESTS; k++) {
            lua_rawgeti(L, tests, k + 1);
            int t = lua_gettop(L);
            bool raw_first = (r + k) % 2 == 0;
            if (raw_first)
                t_raw[k][r] = run_raw(raw_of[k], db, n);
            run_lua(L, t, "prep", n);
            lua_gc(L, LUA_GCCOLLECT);
            t_orm[k][r] = run_lua(L, t, "run", n);
            if (!raw_first)
                t_raw[k][r] = run_raw(raw_of[k], db, n);
            if (verbose)
                fprintf(stderr, "run %d %-12s raw %.4f s  testudo %.4f s%s\n",
                        r + 1, raw_of[k]->name, t_raw[k][r], t_orm[k][r],
                        raw_first ? "  (raw first)" : "");
            lua_pop(L, 1);
        }
        lua_getfield(L, W, "close");
        call(L, 0);
        be->close(db);
        if (files) {
            unlink(url + 9);
            unlink(rawpath);
        }
        lua_gc(L, LUA_GCCOLLECT);
    }
    printf("%s (%s), N = %lld rows, median of %d runs\n\n", title,
           strstr(target, "://") ? be->name : target, (long long)n, runs);
    printf("| %-12s | %14s | %14s | %7s |\n", "test", "raw rows/s",
           "testudo rows/s", "ratio");
    printf("|%s|%s|%s|%s|\n", "--------------", "----------------:",
           "----------------:", "--------:");
    double logsum = 0;
    for (int k = 0; k < ntests && k < MAX_TESTS; k++) {
        double a = median(t_raw[k], runs), b = median(t_orm[k], runs);
        double ratio = a > 0 ? b / a : 0;
        logsum += log(ratio > 0 ? ratio : 1);
        printf("| %-12s | %14.0f | %14.0f | %6.2fx |\n", raw_of[k]->name,
               a > 0 ? (double)n / a : 0, b > 0 ? (double)n / b : 0, ratio);
    }
    printf("\ngeometric mean of the ratios: %.2fx\n",
           exp(logsum / (ntests ? ntests : 1)));
    lua_close(L);
    return 0;
}
