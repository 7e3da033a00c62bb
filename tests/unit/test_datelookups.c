/*
 * test_datelookups.c -- the date part lookups (year, quarter, month,
 * week, day, hour, minute, second): the SQL each dialect writes for them
 * (pure, no server), their values coerced to integers, NULL, paths
 * through relations, and the FieldErrors for parts a field does not
 * have.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "tdo_int.h"

static tdo_ctx *ctx;
static tdo_model *event, *note;
static const tdo_dialect *dl[3]; /* sqlite, postgres, mysql */
static tdo_error err;

#define CHECK(call)                                                            \
    do {                                                                       \
        tdo_status st_ = (call);                                               \
        if (st_)                                                               \
            fail_msg("%s: %s: %s", #call, tdo_status_name(st_),                \
                     err.message ? err.message : "");                          \
    } while (0)

static void add(tdo_model *m, tdo_field_decl f)
{
    CHECK(tdo_model_add_field(m, &f, NULL, &err));
}

static int setup(void **state)
{
    (void)state;
    tdo_error_init(&err);
    dl[0] = tdo_dialect_by_name("sqlite");
    dl[1] = tdo_dialect_by_name("postgres");
    dl[2] = tdo_dialect_by_name("mysql");
    ctx = tdo_ctx_new();
    CHECK(tdo_model_new(ctx, "models", "Event", &event, &err));
    CHECK(tdo_model_set_table(event, "events", &err));
    tdo_field_decl f = tdo_field_template("name", TDO_F_CHAR);
    f.max_length = 20;
    add(event, f);
    add(event, tdo_field_template("day", TDO_F_DATE));
    add(event, tdo_field_template("at", TDO_F_DATETIME));
    add(event, tdo_field_template("tm", TDO_F_TIME));
    CHECK(tdo_model_finish(event, &err));
    CHECK(tdo_model_new(ctx, "models", "Note", &note, &err));
    CHECK(tdo_model_set_table(note, "notes", &err));
    f = tdo_field_template("event", TDO_F_FK);
    f.related_ref = "models.Event";
    add(note, f);
    CHECK(tdo_model_finish(note, &err));
    CHECK(tdo_ctx_resolve(ctx, &err));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tdo_ctx_free(ctx);
    tdo_error_release(&err);
    return 0;
}

/* A new query of m filtered by key = v (which must resolve). */
static tdo_query *where(tdo_model *m, const char *key, tdo_value v)
{
    tdo_query *all = tdo_query_new(m), *q = NULL;
    tdo_qnode *n = tdo_q_lookup(key, &v, 1);
    CHECK(tdo_query_filter(all, n, &q, &err));
    tdo_qnode_free(n);
    tdo_query_free(all);
    return q;
}

/* Compiles a COUNT of q for dialect i and compares the SQL. */
static void expect(const tdo_query *q, int i, const char *sql)
{
    tdo_compiled *c = NULL;
    CHECK(tdo_compile(q, TDO_STMT_COUNT, dl[i], NULL, 0, &c, &err));
    assert_string_equal(tdo_compiled_sql(c), sql);
    tdo_compiled_free(c);
}

/* The WHERE of event_key = 1 on every dialect. */
static void expect_where(const char *key, const char *sqlite, const char *pg,
                         const char *mysql)
{
    char buf[512];
    tdo_query *q = where(event, key, tdo_value_int(1));
    snprintf(buf, sizeof(buf), "SELECT COUNT(*) FROM \"events\" WHERE %s",
             sqlite);
    expect(q, 0, buf);
    snprintf(buf, sizeof(buf), "SELECT COUNT(*) FROM \"events\" WHERE %s", pg);
    expect(q, 1, buf);
    snprintf(buf, sizeof(buf), "SELECT COUNT(*) FROM `events` WHERE %s", mysql);
    expect(q, 2, buf);
    tdo_query_free(q);
}

static void test_date_parts(void **state)
{
    (void)state;
    expect_where("day__year", "CAST(strftime('%Y',\"day\") AS INTEGER)=?",
                 "CAST(EXTRACT(YEAR FROM \"day\") AS INTEGER)=$1",
                 "YEAR(`day`)=?");
    expect_where("day__quarter",
                 "((CAST(strftime('%m',\"day\") AS INTEGER)+2)/3)=?",
                 "CAST(EXTRACT(QUARTER FROM \"day\") AS INTEGER)=$1",
                 "QUARTER(`day`)=?");
    expect_where("day__month", "CAST(strftime('%m',\"day\") AS INTEGER)=?",
                 "CAST(EXTRACT(MONTH FROM \"day\") AS INTEGER)=$1",
                 "MONTH(`day`)=?");
    expect_where("day__week",
                 "((CAST(strftime('%j',date(substr(\"day\",1,10),'-3 "
                 "days','weekday 4')) AS INTEGER)-1)/7+1)=?",
                 "CAST(EXTRACT(WEEK FROM \"day\") AS INTEGER)=$1",
                 "WEEK(`day`,3)=?");
    expect_where("day__day", "CAST(strftime('%d',\"day\") AS INTEGER)=?",
                 "CAST(EXTRACT(DAY FROM \"day\") AS INTEGER)=$1",
                 "DAYOFMONTH(`day`)=?");
    expect_where("at__hour", "CAST(strftime('%H',\"at\") AS INTEGER)=?",
                 "CAST(EXTRACT(HOUR FROM \"at\") AS INTEGER)=$1",
                 "HOUR(`at`)=?");
    expect_where("at__minute", "CAST(strftime('%M',\"at\") AS INTEGER)=?",
                 "CAST(EXTRACT(MINUTE FROM \"at\") AS INTEGER)=$1",
                 "MINUTE(`at`)=?");
    expect_where("tm__second", "CAST(strftime('%S',\"tm\") AS INTEGER)=?",
                 "CAST(FLOOR(EXTRACT(SECOND FROM \"tm\")) AS INTEGER)=$1",
                 "SECOND(`tm`)=?");
    expect_where("at__year", "CAST(strftime('%Y',\"at\") AS INTEGER)=?",
                 "CAST(EXTRACT(YEAR FROM \"at\") AS INTEGER)=$1",
                 "YEAR(`at`)=?");
}

static void test_values_and_null(void **state)
{
    (void)state;
    /* text is coerced to an integer parameter */
    tdo_query *q = where(event, "day__year", tdo_value_text("2024", 4));
    tdo_compiled *c = NULL;
    CHECK(tdo_compile(q, TDO_STMT_SELECT, dl[1], NULL, 0, &c, &err));
    assert_int_equal(tdo_compiled_nparams(c), 1);
    assert_int_equal(tdo_compiled_params(c)[0].type, TDO_INT);
    assert_int_equal(tdo_compiled_params(c)[0].u.i, 2024);
    tdo_compiled_free(c);
    tdo_query_free(q);
    /* NULL: the part IS NULL */
    q = where(event, "at__hour", tdo_value_null());
    expect(q, 2, "SELECT COUNT(*) FROM `events` WHERE HOUR(`at`) IS NULL");
    tdo_query_free(q);
    /* not an integer */
    tdo_query *all = tdo_query_new(event);
    tdo_value v = tdo_value_text("x", 1);
    tdo_qnode *n = tdo_q_lookup("day__year", &v, 1);
    assert_int_equal(tdo_query_filter(all, n, &q, &err), TDO_ERR_FIELD);
    assert_null(q);
    tdo_error_release(&err);
    tdo_qnode_free(n);
    tdo_query_free(all);
}

static void test_through_relation(void **state)
{
    (void)state;
    tdo_query *q = where(note, "event__at__year", tdo_value_int(2024));
    expect(q, 2,
           "SELECT COUNT(*) FROM `notes` INNER JOIN `events` `T1` ON "
           "`T1`.`id`=`notes`.`event_id` WHERE YEAR(`T1`.`at`)=?");
    tdo_query_free(q);
}

/* Filtering by key must fail with a FieldError whose message holds
 * part. */
static void expect_field_error(const char *key, const char *part)
{
    tdo_query *all = tdo_query_new(event), *q = NULL;
    tdo_value v = tdo_value_int(1);
    tdo_qnode *n = tdo_q_lookup(key, &v, 1);
    assert_int_equal(tdo_query_filter(all, n, &q, &err), TDO_ERR_FIELD);
    assert_null(q);
    assert_non_null(strstr(err.message, part));
    tdo_error_release(&err);
    tdo_qnode_free(n);
    tdo_query_free(all);
}

static void test_errors(void **state)
{
    (void)state;
    expect_field_error("day__hour", "'hour' needs a TimeField");
    expect_field_error("tm__year", "'year' needs a DateField");
    expect_field_error("name__month", "'name' is a CharField");
    expect_field_error("day__year__gte", "unknown lookup 'year__gte'");
    expect_field_error("at__microsecond", "unknown lookup 'microsecond'");
    /* the list of lookups names the parts the field has */
    expect_field_error("day__hours",
                       "iendswith, regex, iregex, posix_regex, year, quarter, "
                       "month, week, day)");
    expect_field_error("tm__hours", "posix_regex, hour, minute, second)");
    expect_field_error("name__hours",
                       "endswith, iendswith, regex, iregex, posix_regex)");
}

/* The lookups a field's type suits (the shell's completion after
 * field__), joined by spaces. */
static char *suits(tdo_model *m, const char *field, char *buf, size_t cap)
{
    const char *names[64];
    size_t n = tdo_field_lookups(tdo_model_field_by_name(m, field), names, 64);
    buf[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        if (i)
            strncat(buf, " ", cap - strlen(buf) - 1);
        strncat(buf, names[i], cap - strlen(buf) - 1);
    }
    return buf;
}

static void test_lookups_that_suit(void **state)
{
    (void)state;
    char buf[512];
    assert_string_equal(suits(event, "name", buf, sizeof buf),
                        "exact iexact not in not_in gt gte lt lte range "
                        "isnull not_isnull contains icontains startswith "
                        "istartswith endswith iendswith regex iregex "
                        "posix_regex");
    assert_string_equal(suits(event, "day", buf, sizeof buf),
                        "exact not in not_in gt gte lt lte range isnull "
                        "not_isnull year quarter month week day");
    assert_string_equal(suits(event, "tm", buf, sizeof buf),
                        "exact not in not_in gt gte lt lte range isnull "
                        "not_isnull hour minute second");
    assert_string_equal(suits(note, "event", buf, sizeof buf),
                        "exact not in not_in gt gte lt lte range isnull "
                        "not_isnull");
    assert_int_equal(tdo_field_lookups(NULL, NULL, 0), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_date_parts),
        cmocka_unit_test(test_values_and_null),
        cmocka_unit_test(test_through_relation),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_lookups_that_suit),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
