/*
 * fuzz_compile.c -- libFuzzer harness: the query resolver and compiler
 * fed random paths, lookups and values against a fixed set of models
 * (User; Category, self-referencing; Product with a foreign key), for
 * the three dialects.  Each input line is "key=value"; its first byte
 * picks how the condition joins the ones before (AND, OR, AND NOT), the
 * value is an integer when it parses as one, else text.
 * Invariants: no crash, leak or sanitizer report; errors are errors.
 */
#include "tdo_int.h"

#include <stdlib.h>
#include <string.h>

static tdo_ctx *ctx;
static tdo_model *models[3];

static void add(tdo_model *m, const char *name, tdo_field_type t,
                unsigned flags, const char *ref)
{
    tdo_error err = TDO_ERROR_INIT;
    tdo_field_decl f = tdo_field_template(name, t);
    f.flags |= flags;
    if (t == TDO_F_CHAR)
        f.max_length = 50;
    if (t == TDO_F_DECIMAL) {
        f.max_digits = 10;
        f.decimal_places = 2;
    }
    f.related_ref = ref;
    if (tdo_model_add_field(m, &f, NULL, &err))
        abort();
}

static void setup(void)
{
    tdo_error err = TDO_ERROR_INIT;
    ctx = tdo_ctx_new();
    if (!ctx || tdo_model_new(ctx, "models", "User", &models[0], &err) ||
        tdo_model_new(ctx, "models", "Category", &models[1], &err) ||
        tdo_model_new(ctx, "models", "Product", &models[2], &err))
        abort();
    add(models[0], "id", TDO_F_INT, TDO_FIELD_PK, NULL);
    add(models[0], "email", TDO_F_CHAR, TDO_FIELD_UNIQUE, NULL);
    add(models[0], "is_active", TDO_F_BOOL, 0, NULL);
    add(models[0], "created_at", TDO_F_DATETIME, TDO_FIELD_NULL, NULL);
    add(models[1], "name", TDO_F_CHAR, 0, NULL);
    add(models[1], "parent", TDO_F_FK, TDO_FIELD_NULL, "models.Category");
    add(models[2], "name", TDO_F_CHAR, 0, NULL);
    add(models[2], "price", TDO_F_DECIMAL, 0, NULL);
    add(models[2], "stock", TDO_F_INT, 0, NULL);
    add(models[2], "born", TDO_F_DATE, TDO_FIELD_NULL, NULL);
    add(models[2], "category", TDO_F_FK, 0, "models.Category");
    add(models[2], "owner", TDO_F_FK, TDO_FIELD_NULL, "models.User");
    for (int i = 0; i < 3; i++)
        if (tdo_model_finish(models[i], &err))
            abort();
    if (tdo_ctx_resolve(ctx, &err))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ctx)
        setup();
    if (size < 1)
        return 0;
    tdo_model *m = models[data[0] % 3];
    char *text = malloc(size);
    if (!text)
        return 0;
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    tdo_qnode *cond = NULL;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        char join = line[0];
        char *key = line + (line[0] ? 1 : 0);
        char *eq = strchr(key, '=');
        if (!eq)
            continue;
        *eq = '\0';
        char *end;
        long long iv = strtoll(eq + 1, &end, 10);
        tdo_value v = *end || end == eq + 1
                          ? tdo_value_text(eq + 1, strlen(eq + 1))
                          : tdo_value_int(iv);
        tdo_qnode *leaf = tdo_q_lookup(key, &v, 1);
        if (!leaf)
            continue;
        if (join % 3 == 1)
            cond = cond ? tdo_q_or(cond, leaf) : leaf;
        else if (join % 3 == 2)
            cond = tdo_q_and(cond, tdo_q_not(leaf));
        else
            cond = tdo_q_and(cond, leaf);
        if (!cond)
            break;
    }
    static const char *const dialects[] = {"sqlite", "postgres", "mysql"};
    static const tdo_stmt_kind kinds[] = {TDO_STMT_SELECT, TDO_STMT_COUNT,
                                          TDO_STMT_DELETE};
    tdo_query *q = tdo_query_new(m), *qf = NULL;
    tdo_error err = TDO_ERROR_INIT;
    if (q && cond && tdo_query_filter(q, cond, &qf, &err) == TDO_OK) {
        for (int d = 0; d < 3; d++)
            for (int k = 0; k < 3; k++) {
                tdo_compiled *c = NULL;
                tdo_compile(qf, kinds[k], tdo_dialect_by_name(dialects[d]),
                            NULL, 0, &c, &err);
                tdo_compiled_free(c);
            }
    }
    tdo_query_free(qf);
    tdo_query_free(q);
    tdo_qnode_free(cond);
    tdo_error_release(&err);
    free(text);
    return 0;
}
