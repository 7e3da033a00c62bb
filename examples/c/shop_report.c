/*
 * shop_report.c -- libtestudo from C, without Lua.
 *
 * Declares two models (Category, Product), creates their tables, inserts
 * a few rows and prints the products in stock under 50.00, dearest
 * first, then how many there are:
 *
 *     build/examples/c/shop_report [DB_URL]    (default sqlite://:memory:)
 *
 * The rows are inserted on every run: on a database file, a second run
 * stops at the UNIQUE constraint on categories.name and shows the error
 * path (IntegrityError with the failing SQL, exit status 1).
 *
 * Every call that can fail returns a tdo_status and fills the tdo_error
 * passed last, so the calls chain with || and one label reports failures.
 */
#include <stdio.h>
#include <string.h>

#include "testudo.h"

/* Adds the field described by the template f to m. */
static tdo_status add_field(tdo_model *m, tdo_field_decl f, tdo_error *err)
{
    return tdo_model_add_field(m, &f, NULL, err);
}

/* Declares Category(name) and Product(name, price, stock, category). */
static tdo_status declare_models(tdo_ctx *ctx, tdo_model **cat,
                                 tdo_model **prod, tdo_error *err)
{
    tdo_field_decl cname = tdo_field_template("name", TDO_F_CHAR);
    cname.max_length = 100;
    cname.flags = TDO_FIELD_UNIQUE;

    tdo_field_decl pname = tdo_field_template("name", TDO_F_CHAR);
    pname.max_length = 255;
    pname.flags = TDO_FIELD_INDEX;
    tdo_field_decl price = tdo_field_template("price", TDO_F_DECIMAL);
    price.max_digits = 10;
    price.decimal_places = 2;
    tdo_field_decl stock = tdo_field_template("stock", TDO_F_INT);
    stock.flags = TDO_FIELD_HAS_DEFAULT | TDO_FIELD_CONST_DEFAULT;
    stock.default_value = tdo_value_int(0);
    tdo_field_decl category = tdo_field_template("category", TDO_F_FK);
    category.related_ref = "models.Category";
    category.related_name = "products";
    category.flags = TDO_FIELD_DB_CONSTRAINT;

    /* Models get an `id` primary key from tdo_model_finish(). */
    if (tdo_model_new(ctx, "models", "Category", cat, err) ||
        tdo_model_set_table(*cat, "categories", err) ||
        add_field(*cat, cname, err) || tdo_model_finish(*cat, err) ||
        tdo_model_new(ctx, "models", "Product", prod, err) ||
        tdo_model_set_table(*prod, "products", err) ||
        add_field(*prod, pname, err) || add_field(*prod, price, err) ||
        add_field(*prod, stock, err) || add_field(*prod, category, err) ||
        tdo_model_finish(*prod, err))
        return err->code;
    /* Binds "models.Category" now that both models exist. */
    return tdo_ctx_resolve(ctx, err);
}

/* Inserts two categories and five products. */
static tdo_status insert_rows(tdo_conn *conn, tdo_model *cat, tdo_model *prod,
                              tdo_error *err)
{
    const tdo_field *cf[] = {tdo_model_field_by_name(cat, "name")};
    tdo_value cvals[] = {tdo_value_text("Books", 5),
                         tdo_value_text("Games", 5)};
    tdo_value cpk[2] = {tdo_value_null(), tdo_value_null()};
    if (tdo_insert(conn, cat, cf, 1, cvals, 2, false, cpk, err))
        return err->code;
    int64_t books = cpk[0].u.i, games = cpk[1].u.i;
    tdo_value_release(&cpk[0]);
    tdo_value_release(&cpk[1]);

    static const struct {
        const char *name, *price;
        int stock;
        int games;
    } data[] = {
        {"The C Programming Language", "45.50", 12, 0},
        {"SQL Antipatterns", "38.00", 0, 0},
        {"Lua Reference Manual", "19.90", 30, 0},
        {"Chess set", "49.99", 4, 1},
        {"Go board", "120.00", 2, 1},
    };
    enum { NROWS = sizeof data / sizeof data[0], NF = 4 };
    const tdo_field *pf[NF] = {tdo_model_field_by_name(prod, "name"),
                               tdo_model_field_by_name(prod, "price"),
                               tdo_model_field_by_name(prod, "stock"),
                               tdo_model_field_by_name(prod, "category")};
    tdo_value vals[NROWS * NF]; /* row-major: one row after the other */
    tdo_decimal prices[NROWS];
    for (size_t i = 0; i < NROWS; i++) {
        const char *p = data[i].price;
        if (tdo_decimal_parse(p, strlen(p), &prices[i], err))
            return err->code;
        vals[i * NF + 0] = tdo_value_text(data[i].name, strlen(data[i].name));
        vals[i * NF + 1] = tdo_value_decimal(&prices[i]);
        vals[i * NF + 2] = tdo_value_int(data[i].stock);
        vals[i * NF + 3] = tdo_value_int(data[i].games ? games : books);
    }
    return tdo_insert(conn, prod, pf, NF, vals, NROWS, false, NULL, err);
}

/* Returns a new query: q filtered by one lookup "key = v". */
static tdo_status filter1(tdo_query **q, const char *key, tdo_value v,
                          tdo_error *err)
{
    tdo_qnode *cond = tdo_q_lookup(key, &v, 1);
    tdo_query *next = NULL;
    tdo_status st = cond ? tdo_query_filter(*q, cond, &next, err)
                         : tdo_error_set(err, TDO_ERR_NOMEM, "out of memory");
    tdo_qnode_free(cond);
    tdo_query_free(*q);
    *q = next;
    return st;
}

/* Prints the rows of r as "col=value" lines. */
static tdo_status print_rows(tdo_rows *r, tdo_error *err)
{
    tdo_sb line = TDO_SB_INIT;
    bool has_row;
    tdo_status st;
    while (!(st = tdo_rows_next(r, &has_row, err)) && has_row) {
        tdo_sb_reset(&line);
        for (size_t i = 0; i < tdo_rows_ncols(r); i++) {
            tdo_value v;
            if ((st = tdo_rows_get(r, i, &v, err)))
                break;
            tdo_sb_addf(&line, "%s%s=", i ? "  " : "", tdo_rows_colname(r, i));
            tdo_value_format(&line, &v, true);
        }
        if (st)
            break;
        puts(line.buf);
    }
    tdo_sb_release(&line);
    return st;
}

int main(int argc, char **argv)
{
    const char *url = argc > 1 ? argv[1] : "sqlite://:memory:";
    tdo_error err = TDO_ERROR_INIT;
    tdo_ctx *ctx = tdo_ctx_new();
    tdo_model *cat = NULL, *prod = NULL;
    tdo_conn *conn = NULL;
    tdo_query *q = NULL, *ordered = NULL;
    tdo_rows *rows = NULL;
    tdo_decimal fifty;
    int64_t n = 0;
    int status = 1;

    if (!ctx) {
        fputs("shop_report: out of memory\n", stderr);
        return 1;
    }
    if (declare_models(ctx, &cat, &prod, &err) ||
        tdo_connect(ctx, "default", url, &conn, &err) ||
        tdo_generate_schemas(ctx, conn, true, &err) ||
        insert_rows(conn, cat, prod, &err))
        goto fail;

    /* Product.filter(stock__gt=0, price__lt=50).order_by("-price", "name") */
    static const char *const order[] = {"-price", "name"};
    if (!(q = tdo_query_new(prod))) {
        tdo_error_set(&err, TDO_ERR_NOMEM, "out of memory");
        goto fail;
    }
    if (filter1(&q, "stock__gt", tdo_value_int(0), &err) ||
        tdo_decimal_parse("50", 2, &fifty, &err) ||
        filter1(&q, "price__lt", tdo_value_decimal(&fifty), &err) ||
        tdo_query_order_by(q, order, 2, &ordered, &err))
        goto fail;
    tdo_query_free(q);
    q = ordered;

    if (tdo_query_run(conn, q, &rows, &err) || print_rows(rows, &err) ||
        tdo_query_count(conn, q, &n, &err))
        goto fail;
    printf("(%lld products in stock under 50.00)\n", (long long)n);
    status = 0;

fail:
    if (status) {
        fprintf(stderr, "shop_report: %s: %s\n", tdo_status_name(err.code),
                err.message ? err.message : "unknown error");
        if (err.sql)
            fprintf(stderr, "shop_report: SQL: %s\n", err.sql);
    }
    tdo_rows_free(rows);
    tdo_query_free(q);
    tdo_error_release(&err);
    tdo_ctx_free(ctx); /* frees the models, closes the connection */
    return status;
}
