/*
 * test_sugar.c -- the shell's source rewriting: `:name<...>` sugar and the
 * REPL's persistent locals.  shell/sugar.c has no Lua or readline
 * dependency, so it is compiled right into this test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "../../shell/sugar.c"

static void check_sugar(const char *in, const char *want)
{
    size_t n = 0;
    char *got = shell_sugar_translate(in, strlen(in), &n);
    assert_non_null(got);
    assert_string_equal(got, want);
    assert_int_equal(n, strlen(in));
    free(got);
}

static void check_locals(const char *in, const char *want)
{
    size_t n = 0;
    char *got = shell_sugar_locals(in, strlen(in), &n);
    assert_non_null(got);
    assert_string_equal(got, want);
    assert_int_equal(n, strlen(want));
    free(got);
}

static void check_nils(const char *in, const char *want)
{
    size_t n = 0;
    char *got = shell_sugar_rewrite(in, strlen(in), &n);
    assert_non_null(got);
    assert_string_equal(got, want);
    assert_int_equal(n, strlen(want));
    free(got);
}

static void test_nils_rewritten(void **state)
{
    (void)state;
    check_nils("User:filter{is_active=nil}:delete()",
               "User:filter{is_active=orm._nil_arg(\"is_active\")}:delete()");
    check_nils("User:filter<is_active = nil>",
               "User:filter{is_active = orm._nil_arg(\"is_active\")}");
    check_nils("U:exclude{a=1, b=nil; c=2}",
               "U:exclude{a=1, b=orm._nil_arg(\"b\"); c=2}");
    check_nils("U:get({id=nil})", "U:get({id=orm._nil_arg(\"id\")})");
    check_nils("qs:update{name=nil --[[x]] }",
               "qs:update{name=orm._nil_arg(\"name\") --[[x]] }");
    check_nils("U:get_or_none{x=nil}", "U:get_or_none{x=orm._nil_arg(\"x\")}");
    check_nils("U:filter{Q{a=nil} | Q{b=1}}",
               "U:filter{Q{a=orm._nil_arg(\"a\")} | Q{b=1}}");
    check_nils("U:filter{\n  a = nil,\n  b = 2 }",
               "U:filter{\n  a = orm._nil_arg(\"a\"),\n  b = 2 }");
}

static void test_nils_untouched(void **state)
{
    (void)state;
    const char *same[] = {
        "t = {a=nil}",           /* not an argument table */
        "U:create{a=nil}",       /* create: nil is no condition */
        "U:filter{a={b=nil}}",   /* nested table */
        "U:filter{a=nil or 1}",  /* an expression */
        "U:filter{a=x == nil}",  /* a comparison */
        "U:filter{[\"a\"]=nil}", /* bracketed key */
        "s = 'U:filter{a=nil}'", /* a string */
        "-- U:filter{a=nil}",    /* a comment */
        "U.filter{a=nil}",       /* not a method call */
        "U:filter{a=orm.null}",
    };
    for (size_t i = 0; i < sizeof same / sizeof *same; i++)
        check_nils(same[i], same[i]);
}

static void test_sugar_basic(void **state)
{
    (void)state;
    check_sugar("User:filter<is_active=true>:order_by(\"-created_at\")",
                "User:filter{is_active=true}:order_by(\"-created_at\")");
    check_sugar("User:get<id=1>", "User:get{id=1}");
    check_sugar("x:m<>", "x:m{}");
    check_sugar("a.b.c:get_or_create<email='x', defaults={n=1}>",
                "a.b.c:get_or_create{email='x', defaults={n=1}}");
}

static void test_sugar_chain_and_nesting(void **state)
{
    (void)state;
    check_sugar("User:filter<a=1>:exclude<b=2>:count()",
                "User:filter{a=1}:exclude{b=2}:count()");
    check_sugar("A:filter<id__in=B:values_list<'id', flat=true>>",
                "A:filter{id__in=B:values_list{'id', flat=true}}");
    check_sugar("U:filter<Q<a=1>, f=g(h[1], {2})>",
                "U:filter{Q<a=1}, f=g(h[1], {2})>" /* Q< is not :name< */);
    check_sugar("U:filter<n=(x > 3)>", "U:filter{n=(x > 3)}");
    check_sugar("U:filter<t={a={b=1}}>", "U:filter{t={a={b=1}}}");
}

static void test_sugar_first_gt_closes(void **state)
{
    (void)state;
    /* An unparenthesised comparison ends the sugar: Lua reports it. */
    check_sugar("U:f<a=x>y>", "U:f{a=x}y>");
    check_sugar("U:f<a>=1>", "U:f{a}=1>");
}

static void test_sugar_strings_untouched(void **state)
{
    (void)state;
    check_sugar("s = 'x:m<a>'", "s = 'x:m<a>'");
    check_sugar("s = \"x:m<a>\"", "s = \"x:m<a>\"");
    check_sugar("s = [[x:m<a>]]", "s = [[x:m<a>]]");
    check_sugar("s = [==[x:m<a>]]x:m<b>]==]", "s = [==[x:m<a>]]x:m<b>]==]");
    check_sugar("U:f<e='a>b', g=\"c>\\\"d\">", "U:f{e='a>b', g=\"c>\\\"d\"}");
    check_sugar("U:f<s=[[>]]>", "U:f{s=[[>]]}");
    check_sugar("s = 'it\\'s x:m<a>'", "s = 'it\\'s x:m<a>'");
}

static void test_sugar_comments_untouched(void **state)
{
    (void)state;
    check_sugar("-- x:m<a>\ny = 1", "-- x:m<a>\ny = 1");
    check_sugar("--[[ x:m<a> ]] y:m<b>", "--[[ x:m<a> ]] y:m{b}");
    check_sugar("--[=[ x:m<a> ]] ]=] y:m<b>", "--[=[ x:m<a> ]] ]=] y:m{b}");
    check_sugar("U:f<a=1 -- > not this\n, b=2>",
                "U:f{a=1 -- > not this\n, b=2}");
}

static void test_sugar_not_sugar(void **state)
{
    (void)state;
    check_sugar("if a<b and c>d then end", "if a<b and c>d then end");
    check_sugar("::top:: x = a<b", "::top:: x = a<b");
    check_sugar("goto top ::top::", "goto top ::top::");
    check_sugar("x = t[1]<t[2]", "x = t[1]<t[2]");
    check_sugar("x:m <a>", "x:m <a>");
    check_sugar("x = 0x1e<2 and 1e5>3", "x = 0x1e<2 and 1e5>3");
}

static void test_sugar_multiline_and_unclosed(void **state)
{
    (void)state;
    check_sugar("U:filter<\n  a = 1,\n  b = 2\n>",
                "U:filter{\n  a = 1,\n  b = 2\n}");
    /* Unclosed: the opener is translated, so Lua reports '<eof>'. */
    check_sugar("U:filter<a = 1,", "U:filter{a = 1,");
    check_sugar("", "");
}

static void test_locals_basic(void **state)
{
    (void)state;
    check_locals("local x = 1", ";__testudo_local(\"x\") x = 1");
    check_locals("local a, b = f()",
                 ";__testudo_local(\"a\",\"b\") a, b = f()");
    check_locals("local x", ";__testudo_local(\"x\") x = nil");
    check_locals("local a,b", ";__testudo_local(\"a\",\"b\") a,b = nil, nil");
    check_locals("local function f(n) local y = n return y end",
                 ";__testudo_local(\"f\") function f(n) local y = n "
                 "return y end");
    check_locals("x = 1; local y = x\nprint(y)",
                 "x = 1; ;__testudo_local(\"y\") y = x\nprint(y)");
}

static void test_locals_nested_untouched(void **state)
{
    (void)state;
    const char *same[] = {"do local x = 1 end",
                          "for i = 1, 3 do local x = i end",
                          "while c do local x = 1 end",
                          "if a then local x = 1 else local y = 2 end",
                          "repeat local x = 1 until x",
                          "f = function() local x = 1 end",
                          "local f <close> = g()", /* Lua's own scope */
                          "s = 'local x = 1'",
                          "-- local x = 1",
                          "t = { f = function() local z end }",
                          "local",
                          "local function",
                          NULL};
    for (int i = 0; same[i] != NULL; i++)
        check_locals(same[i], same[i]);
    check_locals("do local a = 1 end local b = 2",
                 "do local a = 1 end ;__testudo_local(\"b\") b = 2");
    /* <const>: kept between lines like any local (not enforced later) */
    check_locals("local x <const> = 5", ";__testudo_local(\"x\") x = 5");
    check_locals("local a <const>, b = 1, 2",
                 ";__testudo_local(\"a\",\"b\") a, b = 1, 2");
    check_locals("local k<const>", ";__testudo_local(\"k\") k = nil");
    check_locals("local x = 1 local y = 2",
                 ";__testudo_local(\"x\") x = 1 ;__testudo_local(\"y\") "
                 "y = 2");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sugar_basic),
        cmocka_unit_test(test_sugar_chain_and_nesting),
        cmocka_unit_test(test_sugar_first_gt_closes),
        cmocka_unit_test(test_sugar_strings_untouched),
        cmocka_unit_test(test_sugar_comments_untouched),
        cmocka_unit_test(test_sugar_not_sugar),
        cmocka_unit_test(test_sugar_multiline_and_unclosed),
        cmocka_unit_test(test_nils_rewritten),
        cmocka_unit_test(test_nils_untouched),
        cmocka_unit_test(test_locals_basic),
        cmocka_unit_test(test_locals_nested_untouched),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
