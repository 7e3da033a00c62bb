/* test_stmt_cache.c -- the prepared-statement cache the three backends
 * share: hits, least-recently-used eviction of idle entries only, entries
 * in use never evicted, shared caches, clearing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>

#include "tdo_int.h"

/* What the cache gave back: statements are small integers cast to
 * pointers; ud is recorded to tell an eviction from a clear. */
typedef struct dropped {
    intptr_t stmt[2 * TDO_STMT_CACHE_MAX];
    bool in_use[2 * TDO_STMT_CACHE_MAX];
    bool evicted[2 * TDO_STMT_CACHE_MAX];
    int n;
} dropped;

static dropped seen;

static void drop(void *stmt, bool in_use, void *ud)
{
    seen.stmt[seen.n] = (intptr_t)stmt;
    seen.in_use[seen.n] = in_use;
    seen.evicted[seen.n] = ud != NULL;
    seen.n++;
}

static void sql_of(char *buf, size_t cap, int i)
{
    snprintf(buf, cap, "SELECT %d", i);
}

/* Fills c with TDO_STMT_CACHE_MAX statements 1..MAX, all idle. */
static void fill(tdo_stmt_cache *c)
{
    char sql[32];
    for (int i = 1; i <= TDO_STMT_CACHE_MAX; i++) {
        sql_of(sql, sizeof(sql), i);
        int slot = tdo_stmt_cache_add(c, sql, (void *)(intptr_t)i);
        assert_int_equal(slot, i - 1);
        tdo_stmt_cache_done(c, slot);
    }
}

static void test_hits_and_misses(void **state)
{
    tdo_stmt_cache c;
    memset(&seen, 0, sizeof(seen));
    tdo_stmt_cache_init(&c, false, drop, &c);
    assert_int_equal(tdo_stmt_cache_find(&c, "SELECT 1"), -1);
    int slot = tdo_stmt_cache_add(&c, "SELECT 1", (void *)(intptr_t)7);
    assert_true(slot >= 0);
    /* in use: not found again until it is given back */
    assert_int_equal(tdo_stmt_cache_find(&c, "SELECT 1"), -1);
    tdo_stmt_cache_done(&c, slot);
    assert_int_equal(tdo_stmt_cache_find(&c, "SELECT 1"), slot);
    assert_ptr_equal(c.e[slot].stmt, (void *)(intptr_t)7);
    assert_int_equal(c.hits, 1);
    tdo_stmt_cache_done(&c, slot);
    tdo_stmt_cache_clear(&c);
    assert_int_equal(seen.n, 1);
    assert_false(seen.evicted[0]); /* a clear, not an eviction */
    assert_int_equal(c.n, 0);
}

static void test_evicts_least_recently_used_idle(void **state)
{
    tdo_stmt_cache c;
    char sql[32];
    memset(&seen, 0, sizeof(seen));
    tdo_stmt_cache_init(&c, false, drop, &c);
    fill(&c);
    /* statement 1 used again: 2 is now the oldest; 2 in use: 3 is */
    int s1 = tdo_stmt_cache_find(&c, "SELECT 1");
    tdo_stmt_cache_done(&c, s1);
    int s2 = tdo_stmt_cache_find(&c, "SELECT 2");
    assert_true(s2 >= 0);
    assert_true(tdo_stmt_cache_add(&c, "SELECT 1000", (void *)(intptr_t)1000) >=
                0);
    assert_int_equal(seen.n, 1);
    assert_int_equal(seen.stmt[0], 3);
    assert_true(seen.evicted[0]);
    assert_false(seen.in_use[0]);
    assert_int_equal(tdo_stmt_cache_find(&c, "SELECT 3"), -1);
    /* every entry in use: a new statement stays uncached */
    for (int i = 1; i <= TDO_STMT_CACHE_MAX; i++) {
        sql_of(sql, sizeof(sql), i);
        tdo_stmt_cache_find(&c, sql);
    }
    tdo_stmt_cache_find(&c, "SELECT 1000");
    assert_int_equal(tdo_stmt_cache_add(&c, "SELECT 2000", (void *)1), -1);
    assert_int_equal(seen.n, 1);
    /* clearing gives every statement back, saying which are in use */
    tdo_stmt_cache_clear(&c);
    assert_int_equal(seen.n, 1 + TDO_STMT_CACHE_MAX);
    for (int i = 1; i < seen.n; i++) {
        assert_true(seen.in_use[i]);
        assert_false(seen.evicted[i]);
    }
}

static void test_shared_entries_serve_many(void **state)
{
    tdo_stmt_cache c;
    memset(&seen, 0, sizeof(seen));
    tdo_stmt_cache_init(&c, true, drop, &c);
    int slot = tdo_stmt_cache_add(&c, "SELECT 1", (void *)(intptr_t)5);
    assert_int_equal(tdo_stmt_cache_find(&c, "SELECT 1"), slot);
    assert_int_equal(tdo_stmt_cache_find(&c, "SELECT 1"), slot);
    assert_int_equal(c.hits, 2);
    tdo_stmt_cache_clear(&c);
    assert_int_equal(seen.n, 1);
}

static void test_out_of_memory_leaves_it_uncached(void **state)
{
    tdo_stmt_cache c;
    memset(&seen, 0, sizeof(seen));
    tdo_stmt_cache_init(&c, false, drop, &c);
    tdo_test_fail_alloc_after(1);
    assert_int_equal(tdo_stmt_cache_add(&c, "SELECT 1", (void *)1), -1);
    tdo_test_fail_alloc_after(0);
    assert_int_equal(c.n, 0);
    assert_int_equal(seen.n, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hits_and_misses),
        cmocka_unit_test(test_evicts_least_recently_used_idle),
        cmocka_unit_test(test_shared_entries_serve_many),
        cmocka_unit_test(test_out_of_memory_leaves_it_uncached),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
