/*
 * test_registry.c -- models and the registry: declaration, the automatic
 * primary key, abstract inheritance, indexes, errors, resolve, detach.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "tdo_int.h"

static tdo_ctx *ctx;
static tdo_error err;

static int setup(void **state)
{
    ctx = tdo_ctx_new();
    tdo_error_init(&err);
    return ctx ? 0 : -1;
}

static int teardown(void **state)
{
    tdo_ctx_free(ctx);
    tdo_error_release(&err);
    return 0;
}

static tdo_model *new_model(const char *app, const char *name)
{
    tdo_model *m = NULL;
    assert_int_equal(tdo_model_new(ctx, app, name, &m, &err), TDO_OK);
    assert_non_null(m);
    return m;
}

static tdo_field *add(tdo_model *m, tdo_field_decl t)
{
    tdo_field *f = NULL;
    assert_int_equal(tdo_model_add_field(m, &t, &f, &err), TDO_OK);
    assert_non_null(f);
    return f;
}

static tdo_field_decl charf(const char *name, int max_length, unsigned flags)
{
    tdo_field_decl t = tdo_field_template(name, TDO_F_CHAR);
    t.max_length = max_length;
    t.flags = flags;
    return t;
}

static tdo_field_decl fk(const char *name, const char *ref)
{
    tdo_field_decl t = tdo_field_template(name, TDO_F_FK);
    t.related_ref = ref;
    return t;
}

static void test_declare_defaults(void **state)
{
    tdo_model *m = new_model("models", "User");
    tdo_field *email = add(m, charf("email", 255, TDO_FIELD_UNIQUE));
    add(m, tdo_field_template("is_active", TDO_F_BOOL));
    assert_int_equal(tdo_model_finish(m, &err), TDO_OK);

    assert_string_equal(tdo_model_name(m), "User");
    assert_string_equal(tdo_model_app(m), "models");
    assert_string_equal(tdo_model_table(m), "user");
    assert_null(tdo_model_description(m));
    assert_false(tdo_model_abstract(m));
    assert_int_equal(tdo_model_nfields(m), 3);

    const tdo_field *pk = tdo_model_pk(m);
    assert_non_null(pk);
    assert_string_equal(pk->name, "id");
    assert_int_equal(pk->type, TDO_F_INT);
    assert_true(pk->flags & TDO_FIELD_PK);
    assert_true(pk->flags & TDO_FIELD_GENERATED);
    assert_ptr_equal(tdo_model_field(m, 0), pk);
    assert_ptr_equal(tdo_model_field(m, 1), email);
    assert_int_equal(email->index, 1);
    assert_ptr_equal(email->model, m);
    assert_string_equal(email->column, "email");
    assert_null(tdo_model_field(m, 3));

    assert_ptr_equal(tdo_model_field_by_name(m, "email"), email);
    assert_ptr_equal(tdo_model_field_by_name(m, "pk"), pk);
    assert_null(tdo_model_field_by_name(m, "emial"));

    assert_int_equal(tdo_ctx_nmodels(ctx), 1);
    assert_ptr_equal(tdo_ctx_model_at(ctx, 0), m);
    assert_null(tdo_ctx_model_at(ctx, 1));
    assert_ptr_equal(tdo_ctx_model(ctx, "models", "User"), m);
    assert_ptr_equal(tdo_ctx_model(ctx, NULL, "User"), m);
    assert_null(tdo_ctx_model(ctx, "other", "User"));

    assert_int_equal(tdo_model_set_table(m, "users", &err), TDO_OK);
    assert_string_equal(tdo_model_table(m), "users");
    assert_int_equal(tdo_model_set_description(m, "People", &err), TDO_OK);
    assert_string_equal(tdo_model_description(m), "People");
    int x;
    tdo_model_set_userdata(m, &x);
    assert_ptr_equal(tdo_model_userdata(m), &x);
    assert_false(tdo_ctx_use_tz(ctx));
    tdo_ctx_set_use_tz(ctx, true);
    assert_true(tdo_ctx_use_tz(ctx));
}

static void test_declared_pk(void **state)
{
    tdo_model *m = new_model("models", "Tag");
    tdo_field_decl t = tdo_field_template("code", TDO_F_BIGINT);
    t.flags = TDO_FIELD_PK | TDO_FIELD_NULL;
    tdo_field *code = add(m, t);
    add(m, charf("name", 50, 0));
    assert_int_equal(tdo_model_finish(m, &err), TDO_OK);
    assert_int_equal(tdo_model_nfields(m), 2);
    assert_ptr_equal(tdo_model_pk(m), code);
    assert_true(code->flags & TDO_FIELD_GENERATED);
    assert_false(code->flags & TDO_FIELD_NULL);

    /* a char primary key is not generated; an int one with a default
     * neither */
    tdo_model *k = new_model("models", "Key");
    tdo_field_decl c = charf("slug", 20, TDO_FIELD_PK);
    tdo_field *slug = add(k, c);
    assert_false(slug->flags & TDO_FIELD_GENERATED);
    tdo_model *d = new_model("models", "Dflt");
    tdo_field_decl i = tdo_field_template("id", TDO_F_INT);
    i.flags = TDO_FIELD_PK | TDO_FIELD_HAS_DEFAULT;
    assert_false(add(d, i)->flags & TDO_FIELD_GENERATED);

    /* a second primary key */
    tdo_field_decl t2 = tdo_field_template("other", TDO_F_INT);
    t2.flags = TDO_FIELD_PK;
    assert_int_equal(tdo_model_add_field(m, &t2, NULL, &err),
                     TDO_ERR_CONFIGURATION);
    assert_string_equal(err.message,
                        "model 'Tag' has two primary keys: 'code' and "
                        "'other'");
    assert_int_equal(tdo_model_nfields(m), 2);
}

static void test_relations_columns(void **state)
{
    tdo_model *m = new_model("models", "Order");
    tdo_field *c = add(m, fk("customer", "models.User"));
    tdo_field_decl t = fk("buyer", "User");
    t.column = "buyer_ref";
    tdo_field *b = add(m, t);
    tdo_field_decl o = tdo_field_template("invoice", TDO_F_O2O);
    o.related_ref = "Invoice";
    tdo_field *inv = add(m, o);
    tdo_field_decl mm = tdo_field_template("tags", TDO_F_M2M);
    mm.related_ref = "models.Tag";
    mm.flags = TDO_FIELD_UNIQUE;
    tdo_field *tags = add(m, mm);
    assert_int_equal(tdo_model_finish(m, &err), TDO_OK);

    assert_string_equal(c->column, "customer_id");
    assert_string_equal(b->column, "buyer_ref");
    assert_string_equal(inv->column, "invoice_id");
    assert_true(inv->flags & TDO_FIELD_UNIQUE);
    assert_true(c->flags & TDO_FIELD_DB_CONSTRAINT);
    assert_null(tags->column);
    assert_false(tags->flags & TDO_FIELD_UNIQUE);
    assert_ptr_equal(tdo_model_field_by_name(m, "customer_id"), c);
    assert_ptr_equal(tdo_model_field_by_name(m, "customer"), c);
    assert_ptr_equal(tdo_model_field_by_name(m, "buyer_ref"), b);
    assert_ptr_equal(tdo_model_field_by_name(m, "tags"), tags);
    assert_int_equal(tdo_field_value_type(c), TDO_INT);
}

static void test_config_errors(void **state)
{
    tdo_model *m = new_model("models", "User");
    tdo_field_decl t = charf("name", 0, 0);
    assert_int_equal(tdo_model_add_field(m, &t, NULL, &err),
                     TDO_ERR_CONFIGURATION);
    assert_string_equal(err.message,
                        "CharField 'name' on model 'User' requires "
                        "max_length");

    tdo_field_decl d = tdo_field_template("price", TDO_F_DECIMAL);
    assert_int_equal(tdo_model_add_field(m, &d, NULL, &err),
                     TDO_ERR_CONFIGURATION);
    assert_non_null(strstr(err.message, "DecimalField 'price' on model "
                                        "'User' requires max_digits"));
    d.max_digits = 4;
    d.decimal_places = 5;
    assert_int_equal(tdo_model_add_field(m, &d, NULL, &err),
                     TDO_ERR_CONFIGURATION);

    tdo_field_decl e = tdo_field_template("role", TDO_F_CHARENUM);
    assert_int_equal(tdo_model_add_field(m, &e, NULL, &err),
                     TDO_ERR_CONFIGURATION);
    assert_non_null(strstr(err.message, "CharEnumField 'role'"));

    tdo_field_decl r = tdo_field_template("parent", TDO_F_FK);
    assert_int_equal(tdo_model_add_field(m, &r, NULL, &err),
                     TDO_ERR_CONFIGURATION);
    assert_string_equal(err.message, "ForeignKeyField 'parent' on model "
                                     "'User' requires a related model");

    tdo_field_decl nn = tdo_field_template("", TDO_F_INT);
    assert_int_equal(tdo_model_add_field(m, &nn, NULL, &err),
                     TDO_ERR_CONFIGURATION);
    assert_int_equal(tdo_model_nfields(m), 0);

    tdo_model *dup = NULL;
    assert_int_equal(tdo_model_new(ctx, "models", "User", &dup, &err),
                     TDO_ERR_CONFIGURATION);
    assert_null(dup);
    assert_string_equal(err.message,
                        "model 'models.User' is already registered");
    assert_int_equal(tdo_model_new(ctx, "models", "", &dup, &err),
                     TDO_ERR_CONFIGURATION);
    /* same name in another app is fine; NULL app is "models" */
    tdo_model *other = new_model("shop", "User");
    assert_string_equal(tdo_model_app(other), "shop");
    tdo_model *z = new_model(NULL, "Zed");
    assert_string_equal(tdo_model_app(z), "models");

    /* a non-pk "id" field with no other primary key */
    tdo_model *w = new_model("models", "Weird");
    add(w, charf("id", 10, 0));
    assert_int_equal(tdo_model_finish(w, &err), TDO_ERR_CONFIGURATION);
    assert_non_null(strstr(err.message, "'id'"));

    /* two fields on one column */
    tdo_model *cc = new_model("models", "Clash");
    add(cc, fk("owner", "User"));
    add(cc, tdo_field_template("owner_id", TDO_F_INT));
    assert_int_equal(tdo_model_finish(cc, &err), TDO_ERR_CONFIGURATION);
    assert_string_equal(err.message,
                        "fields 'owner' and 'owner_id' of model 'Clash' use "
                        "the same column 'owner_id'");
}

static void test_field_error(void **state)
{
    tdo_model *m = new_model("models", "User");
    add(m, charf("email", 255, 0));
    add(m, charf("username", 100, 0));
    assert_int_equal(tdo_model_finish(m, &err), TDO_OK);
    assert_int_equal(tdo_model_field_error(m, "emial", &err), TDO_ERR_FIELD);
    assert_string_equal(err.message, "no such field 'emial' on model 'User' "
                                     "(fields: id, email, username)");
}

static void test_indexes(void **state)
{
    tdo_model *m = new_model("models", "User");
    add(m, charf("email", 255, 0));
    add(m, tdo_field_template("is_active", TDO_F_BOOL));
    add(m, fk("team", "Team"));
    const char *ix1[] = {"email", "is_active"};
    const char *ix2[] = {"team_id", "email"};
    assert_int_equal(tdo_model_add_index(m, ix1, 2, false, &err), TDO_OK);
    assert_int_equal(tdo_model_add_index(m, ix2, 2, true, &err), TDO_OK);
    assert_int_equal(tdo_model_add_index(m, ix1, 0, false, &err),
                     TDO_ERR_CONFIGURATION);
    assert_int_equal(tdo_model_finish(m, &err), TDO_OK);
    assert_int_equal(tdo_model_nindexes(m), 2);
    size_t n = 0;
    bool unique = true;
    const char *const *names = tdo_model_index(m, 0, &n, &unique);
    assert_int_equal(n, 2);
    assert_false(unique);
    assert_string_equal(names[0], "email");
    assert_string_equal(names[1], "is_active");
    names = tdo_model_index(m, 1, &n, &unique);
    assert_true(unique);
    assert_string_equal(names[0], "team_id");
    assert_null(tdo_model_index(m, 2, &n, &unique));

    tdo_model *b = new_model("models", "Bad");
    add(b, charf("name", 10, 0));
    const char *bad[] = {"name", "nmae"};
    assert_int_equal(tdo_model_add_index(b, bad, 2, false, &err), TDO_OK);
    assert_int_equal(tdo_model_finish(b, &err), TDO_ERR_FIELD);
    assert_string_equal(err.message, "no such field 'nmae' on model 'Bad' "
                                     "(fields: id, name)");
}

static void test_inherit(void **state)
{
    tdo_model *mix = new_model("models", "TimestampMixin");
    tdo_model_set_abstract(mix, true);
    tdo_field_decl ca = tdo_field_template("created_at", TDO_F_DATETIME);
    ca.flags = TDO_FIELD_AUTO_NOW_ADD;
    ca.description = "when";
    add(mix, ca);
    tdo_field_decl ua = tdo_field_template("updated_at", TDO_F_DATETIME);
    ua.flags = TDO_FIELD_AUTO_NOW;
    add(mix, ua);
    const char *ix[] = {"created_at"};
    assert_int_equal(tdo_model_add_index(mix, ix, 1, false, &err), TDO_OK);
    assert_int_equal(tdo_model_finish(mix, &err), TDO_OK);
    assert_null(tdo_model_pk(mix)); /* abstract: no automatic pk */
    assert_true(tdo_model_abstract(mix));

    tdo_model *u = new_model("models", "User");
    add(u, charf("email", 255, 0));
    assert_int_equal(tdo_model_inherit(u, mix, &err), TDO_OK);
    /* a field of the child replaces the parent's in place */
    tdo_field_decl ua2 = tdo_field_template("updated_at", TDO_F_DATETIME);
    ua2.flags = TDO_FIELD_NULL;
    tdo_field *upd = add(u, ua2);
    assert_int_equal(tdo_model_finish(u, &err), TDO_OK);

    assert_int_equal(tdo_model_nfields(u), 4);
    assert_string_equal(tdo_model_field(u, 0)->name, "id");
    assert_string_equal(tdo_model_field(u, 1)->name, "created_at");
    assert_string_equal(tdo_model_field(u, 2)->name, "updated_at");
    assert_string_equal(tdo_model_field(u, 3)->name, "email");
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(tdo_model_field(u, i)->index, i);
        assert_ptr_equal(tdo_model_field(u, i)->model, u);
    }
    const tdo_field *c = tdo_model_field(u, 1);
    assert_true(c->flags & TDO_FIELD_INHERITED);
    assert_true(c->flags & TDO_FIELD_AUTO_NOW_ADD);
    assert_string_equal(c->description, "when");
    assert_ptr_not_equal(c, tdo_model_field(mix, 0));
    assert_ptr_equal(tdo_model_field(u, 2), upd);
    assert_true(upd->flags & TDO_FIELD_NULL);
    assert_int_equal(tdo_model_nindexes(u), 1);

    /* only abstract models can be inherited from */
    tdo_model *p = new_model("models", "Plain");
    assert_int_equal(tdo_model_inherit(p, u, &err), TDO_ERR_CONFIGURATION);
    assert_string_equal(err.message, "model 'Plain' cannot inherit from "
                                     "'models.User': it is not abstract");

    /* an abstract parent with a primary key */
    tdo_model *base = new_model("models", "Base");
    tdo_model_set_abstract(base, true);
    tdo_field_decl bid = tdo_field_template("uid", TDO_F_BIGINT);
    bid.flags = TDO_FIELD_PK;
    add(base, bid);
    tdo_model *child = new_model("models", "Child");
    assert_int_equal(tdo_model_inherit(child, base, &err), TDO_OK);
    assert_int_equal(tdo_model_finish(child, &err), TDO_OK);
    assert_string_equal(tdo_model_pk(child)->name, "uid");
    assert_int_equal(tdo_model_nfields(child), 1);
}

static void test_resolve(void **state)
{
    tdo_model *user = new_model("models", "User");
    assert_int_equal(tdo_model_finish(user, &err), TDO_OK);
    tdo_model *cat = new_model("models", "Category");
    tdo_field *parent = add(cat, fk("parent", "models.Category"));
    assert_int_equal(tdo_model_finish(cat, &err), TDO_OK);
    tdo_model *order = new_model("shop", "Order");
    tdo_field *cust = add(order, fk("customer", "models.User"));
    tdo_field *other = add(order, fk("other", "Order"));
    assert_int_equal(tdo_model_finish(order, &err), TDO_OK);

    assert_int_equal(tdo_ctx_resolve(ctx, &err), TDO_OK);
    assert_ptr_equal(parent->related_model, cat);
    assert_ptr_equal(cust->related_model, user);
    assert_ptr_equal(other->related_model, order);

    /* FK value type follows the related pk; coerce goes through it */
    tdo_model *k = new_model("models", "Key");
    add(k, charf("slug", 20, TDO_FIELD_PK));
    assert_int_equal(tdo_model_finish(k, &err), TDO_OK);
    tdo_field *kf = add(order, fk("key", "models.Key"));
    assert_int_equal(tdo_field_value_type(kf), TDO_INT);
    assert_int_equal(tdo_ctx_resolve(ctx, &err), TDO_OK);
    assert_int_equal(tdo_field_value_type(kf), TDO_TEXT);
    tdo_value in = tdo_value_int(7), out;
    assert_int_equal(tdo_field_coerce(kf, &in, &out, &err), TDO_OK);
    assert_int_equal(out.type, TDO_TEXT);
    assert_string_equal(out.u.s.ptr, "7");
    tdo_value_release(&out);
}

static void test_resolve_errors(void **state)
{
    tdo_model *mix = new_model("models", "Mixin");
    tdo_model_set_abstract(mix, true);
    add(mix, fk("nowhere", "models.Nothing")); /* abstract: not resolved */
    tdo_model *a = new_model("models", "A");
    add(a, fk("b", "models.B"));
    add(a, fk("c", "C"));
    add(a, fk("mix", "Mixin"));
    assert_int_equal(tdo_model_finish(a, &err), TDO_OK);
    assert_int_equal(tdo_ctx_resolve(ctx, &err), TDO_ERR_CONFIGURATION);
    assert_string_equal(
        err.message,
        "3 relations cannot be resolved: ForeignKeyField 'b' on model 'A' "
        "refers to unknown model 'models.B'; ForeignKeyField 'c' on model "
        "'A' refers to unknown model 'models.C'; ForeignKeyField 'mix' on "
        "model 'A' refers to abstract model 'models.Mixin'");

    tdo_model *b = new_model("models", "B");
    assert_int_equal(tdo_model_finish(b, &err), TDO_OK);
    tdo_model *c = new_model("models", "C");
    assert_int_equal(tdo_model_finish(c, &err), TDO_OK);
    assert_int_equal(tdo_ctx_resolve(ctx, &err), TDO_ERR_CONFIGURATION);
    assert_string_equal(err.message,
                        "ForeignKeyField 'mix' on model 'A' refers to "
                        "abstract model 'models.Mixin'");
}

static void test_detach(void **state)
{
    tdo_model *u1 = new_model("models", "User");
    add(u1, charf("email", 255, 0));
    assert_int_equal(tdo_model_finish(u1, &err), TDO_OK);
    tdo_model *o = new_model("models", "Order");
    tdo_field *cust = add(o, fk("customer", "User"));
    assert_int_equal(tdo_model_finish(o, &err), TDO_OK);
    assert_int_equal(tdo_ctx_resolve(ctx, &err), TDO_OK);
    assert_ptr_equal(cust->related_model, u1);

    tdo_model_detach(u1);
    tdo_model_detach(u1); /* twice is harmless */
    assert_int_equal(tdo_ctx_nmodels(ctx), 1);
    assert_null(tdo_ctx_model(ctx, "models", "User"));
    /* still readable */
    assert_string_equal(tdo_model_name(u1), "User");
    assert_string_equal(tdo_model_field(u1, 1)->name, "email");
    assert_int_equal(tdo_ctx_resolve(ctx, &err), TDO_ERR_CONFIGURATION);

    tdo_model *u2 = new_model("models", "User");
    assert_int_equal(tdo_model_finish(u2, &err), TDO_OK);
    assert_int_equal(tdo_ctx_resolve(ctx, &err), TDO_OK);
    assert_ptr_equal(cust->related_model, u2);
    assert_ptr_equal(tdo_ctx_model_at(ctx, 1), u2);
    /* detach and redefine many times: no allocation in detach */
    for (int i = 0; i < 20; i++) {
        tdo_model_detach(u2);
        u2 = new_model("models", "User");
    }
    assert_int_equal(tdo_ctx_nmodels(ctx), 2);
}

static void test_type_names(void **state)
{
    assert_string_equal(tdo_field_type_name(TDO_F_CHAR), "CharField");
    assert_string_equal(tdo_field_type_name(TDO_F_FK), "ForeignKeyField");
    assert_string_equal(tdo_field_type_name(TDO_F_DATETIME), "DatetimeField");
    for (int t = 0; t < TDO_F_COUNT; t++)
        assert_int_equal(tdo_field_type_by_name(tdo_field_type_name(t)), t);
    assert_int_equal(tdo_field_type_by_name("NopeField"), TDO_F_COUNT);
    assert_int_equal(tdo_field_type_by_name(NULL), TDO_F_COUNT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_declare_defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_declared_pk, setup, teardown),
        cmocka_unit_test_setup_teardown(test_relations_columns, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_config_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_field_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_indexes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_inherit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resolve, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resolve_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_detach, setup, teardown),
        cmocka_unit_test_setup_teardown(test_type_names, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
