/*
 * field.c -- field types: names, templates, copying, and the conversion
 * (coerce) and checking (validate) of the values a field holds.
 */
#include "tdo_int.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <strings.h>

static const char *const type_names[TDO_F_COUNT] = {
    [TDO_F_INT] = "IntField",           [TDO_F_BIGINT] = "BigIntField",
    [TDO_F_SMALLINT] = "SmallIntField", [TDO_F_FLOAT] = "FloatField",
    [TDO_F_DECIMAL] = "DecimalField",   [TDO_F_CHAR] = "CharField",
    [TDO_F_TEXT] = "TextField",         [TDO_F_BOOL] = "BooleanField",
    [TDO_F_DATETIME] = "DatetimeField", [TDO_F_DATE] = "DateField",
    [TDO_F_TIME] = "TimeField",         [TDO_F_TIMEDELTA] = "TimeDeltaField",
    [TDO_F_UUID] = "UUIDField",         [TDO_F_JSON] = "JSONField",
    [TDO_F_BINARY] = "BinaryField",     [TDO_F_CHARENUM] = "CharEnumField",
    [TDO_F_INTENUM] = "IntEnumField",   [TDO_F_FK] = "ForeignKeyField",
    [TDO_F_O2O] = "OneToOneField",      [TDO_F_M2M] = "ManyToManyField",
};

/* Returns the Tortoise class name of t ("CharField"); static. */
const char *tdo_field_type_name(tdo_field_type t)
{
    return (unsigned)t < TDO_F_COUNT ? type_names[t] : "Field";
}

/* Looks a field type up by class name; TDO_F_COUNT if none. */
tdo_field_type tdo_field_type_by_name(const char *name)
{
    if (!name)
        return TDO_F_COUNT;
    for (int t = 0; t < TDO_F_COUNT; t++)
        if (strcmp(type_names[t], name) == 0)
            return (tdo_field_type)t;
    return TDO_F_COUNT;
}

/* Returns a zeroed declaration of the given name (borrowed until added)
 * and type; relations get TDO_FIELD_DB_CONSTRAINT. */
tdo_field_decl tdo_field_template(const char *name, tdo_field_type type)
{
    tdo_field_decl f;
    memset(&f, 0, sizeof(f));
    f.name = name;
    f.type = type;
    if (type == TDO_F_FK || type == TDO_F_O2O || type == TDO_F_M2M)
        f.flags |= TDO_FIELD_DB_CONSTRAINT;
    return f;
}

/* A scratch field of the given name and type, for a value to be coerced
 * or a column to be typed as one (never freed: it owns nothing). */
tdo_field tdo_field_scratch_(const char *name, tdo_field_type type)
{
    tdo_field f;
    memset(&f, 0, sizeof(f));
    f.name = (char *)name; /* read, never freed */
    f.type = type;
    return f;
}

/* Keeps ud with f (see testudo.h): a field is read-only but for this. */
void tdo_field_set_userdata(const tdo_field *f, intptr_t ud)
{
    ((tdo_field *)f)->userdata = ud;
}

/* The declaration a field was made from (its strings borrowed). */
static tdo_field_decl decl_of(const tdo_field *f)
{
    tdo_field_decl d = {
        .name = f->name,
        .column = f->column,
        .type = f->type,
        .flags = f->flags,
        .max_length = f->max_length,
        .max_digits = f->max_digits,
        .decimal_places = f->decimal_places,
        .description = f->description,
        .db_default = f->db_default,
        .default_value = f->default_value,
        .enum_values = f->enum_values,
        .n_enum = f->n_enum,
        .related_ref = f->related_ref,
        .related_name = f->related_name,
        .on_delete = f->on_delete,
        .through = f->through,
        .forward_key = f->forward_key,
        .backward_key = f->backward_key,
        .to_field = f->to_field,
        .validators = f->validators,
        .nvalidators = f->nvalidators,
    };
    return d;
}

/* Returns the related model's field the key of FK/O2O f holds (to_field,
 * else the related pk); NULL otherwise or unresolved.  Registry-owned. */
const tdo_field *tdo_field_key_target(const tdo_field *f)
{
    if (!f || (f->type != TDO_F_FK && f->type != TDO_F_O2O) ||
        !f->related_model)
        return NULL;
    return f->to_target ? f->to_target : f->related_model->pk;
}

static bool is_relation(const tdo_field *f)
{
    return f->type == TDO_F_FK || f->type == TDO_F_O2O;
}

/* Returns the value type f holds; FK/O2O: the related primary key's. */
tdo_type tdo_field_value_type(const tdo_field *f)
{
    switch (f->type) {
    case TDO_F_INT:
    case TDO_F_BIGINT:
    case TDO_F_SMALLINT:
    case TDO_F_INTENUM:
        return TDO_INT;
    case TDO_F_FLOAT:
        return TDO_DOUBLE;
    case TDO_F_DECIMAL:
        return TDO_DECIMAL;
    case TDO_F_CHAR:
    case TDO_F_TEXT:
    case TDO_F_CHARENUM:
        return TDO_TEXT;
    case TDO_F_BOOL:
        return TDO_BOOL;
    case TDO_F_DATETIME:
        return TDO_DATETIME;
    case TDO_F_DATE:
        return TDO_DATE;
    case TDO_F_TIME:
        return TDO_TIME;
    case TDO_F_TIMEDELTA:
        return TDO_DURATION;
    case TDO_F_UUID:
        return TDO_UUID;
    case TDO_F_JSON:
        return TDO_JSON;
    case TDO_F_BINARY:
        return TDO_BLOB;
    case TDO_F_FK:
    case TDO_F_O2O:
    case TDO_F_M2M: {
        const tdo_field *t = f->type == TDO_F_M2M ? NULL : f->to_target;
        if (!t && f->related_model)
            t = f->related_model->pk;
        if (t && t != f)
            return tdo_field_value_type(t);
        return TDO_INT;
    }
    case TDO_F_COUNT:
        break;
    }
    return TDO_NULL;
}

/* ---- copying -------------------------------------------------------- */

/* Frees a field made by tdo_field_make_() or tdo_field_copy_() into a
 * tdo_calloc'd block; NULL is fine. */
void tdo_field_free_(tdo_field *f)
{
    if (!f)
        return;
    tdo_free(f->name);
    tdo_free(f->column);
    tdo_free(f->description);
    tdo_free(f->db_default);
    tdo_free(f->qcolumn);
    tdo_value_release(&f->default_value);
    for (size_t i = 0; i < f->n_enum; i++)
        tdo_value_release(&f->enum_values[i]);
    tdo_free(f->enum_values);
    tdo_free(f->related_ref);
    tdo_free(f->related_name);
    tdo_free(f->through);
    tdo_free(f->forward_key);
    tdo_free(f->backward_key);
    tdo_free(f->to_field);
    tdo_validators_free_(f);
    tdo_free(f);
}

static bool dup_str(char **dst, const char *src)
{
    *dst = NULL;
    return !src || (*dst = tdo_strdup(src)) != NULL;
}

/* Makes dst (zeroed) own a copy of the declaration src; dst must be
 * freed with tdo_field_free_() even on failure. */
static tdo_status from_decl(tdo_field *dst, const tdo_field_decl *src,
                            tdo_error *err)
{
    memset(dst, 0, sizeof(*dst));
    dst->type = src->type;
    dst->flags = src->flags;
    dst->max_length = src->max_length;
    dst->max_digits = src->max_digits;
    dst->decimal_places = src->decimal_places;
    dst->on_delete = src->on_delete;
    bool ok = dup_str(&dst->name, src->name) &
              dup_str(&dst->column, src->column) &
              dup_str(&dst->description, src->description) &
              dup_str(&dst->db_default, src->db_default) &
              dup_str(&dst->related_ref, src->related_ref) &
              dup_str(&dst->related_name, src->related_name) &
              dup_str(&dst->through, src->through) &
              dup_str(&dst->forward_key, src->forward_key) &
              dup_str(&dst->backward_key, src->backward_key) &
              dup_str(&dst->to_field, src->to_field);
    if (ok && (src->flags & TDO_FIELD_CONST_DEFAULT))
        ok = tdo_value_copy(&dst->default_value, &src->default_value) == TDO_OK;
    if (ok && src->n_enum) {
        dst->enum_values = tdo_calloc(src->n_enum, sizeof(tdo_value));
        ok = dst->enum_values != NULL;
        for (size_t i = 0; ok && i < src->n_enum; i++) {
            ok = tdo_value_copy(&dst->enum_values[i], &src->enum_values[i]) ==
                 TDO_OK;
            if (ok)
                dst->n_enum++;
        }
    }
    if (!ok)
        return tdo_nomem(err);
    return tdo_validators_copy_(dst, src->validators, src->nvalidators, err);
}

/* Deep copy of src into dst, its model and index kept (dst must be freed
 * with tdo_field_free_() even on failure). */
tdo_status tdo_field_copy_(tdo_field *dst, const tdo_field *src, tdo_error *err)
{
    tdo_field_decl d = decl_of(src);
    tdo_status st = from_decl(dst, &d, err);
    dst->related_model = src->related_model;
    dst->to_target = src->to_target;
    dst->model = src->model;
    dst->index = src->index;
    return st;
}

static tdo_status conf_error(const tdo_model *m, const tdo_field_decl *t,
                             const char *what, tdo_error *err)
{
    return tdo_error_set(err, TDO_ERR_CONFIGURATION, "%s '%s' on model '%s' %s",
                         tdo_field_type_name(t->type), t->name, m->name, what);
}

static bool is_int_type(tdo_field_type t)
{
    return t == TDO_F_INT || t == TDO_F_BIGINT || t == TDO_F_SMALLINT;
}

/* Checks what the type of template t requires (ConfigurationError). */
static tdo_status check_template(const tdo_model *m, const tdo_field_decl *t,
                                 tdo_error *err)
{
    if (!t->name || !*t->name)
        return tdo_error_set(err, TDO_ERR_CONFIGURATION,
                             "a field of model '%s' has no name", m->name);
    if ((unsigned)t->type >= TDO_F_COUNT)
        return tdo_error_set(err, TDO_ERR_CONFIGURATION,
                             "field '%s' on model '%s' has an unknown type",
                             t->name, m->name);
    bool fk = t->type == TDO_F_FK || t->type == TDO_F_O2O;
    tdo_type want = t->type == TDO_F_CHARENUM ? TDO_TEXT : TDO_INT;
    switch (t->type) {
    case TDO_F_CHAR:
        if (t->max_length <= 0)
            return conf_error(m, t, "requires max_length", err);
        break;
    case TDO_F_CHARENUM:
    case TDO_F_INTENUM:
        if (!t->n_enum)
            return conf_error(m, t, "requires enum values (enum_type)", err);
        for (size_t i = 0; i < t->n_enum; i++)
            if (t->enum_values[i].type != want)
                return conf_error(m, t,
                                  want == TDO_TEXT ? "takes text enum values"
                                                   : "takes integer enum "
                                                     "values",
                                  err);
        if (t->max_length < 0)
            return conf_error(m, t, "has a negative max_length", err);
        break;
    case TDO_F_DECIMAL:
        if (t->max_digits <= 0 || t->max_digits > TDO_DECIMAL_MAX_DIGITS ||
            t->decimal_places < 0 || t->decimal_places > t->max_digits)
            return conf_error(m, t,
                              "requires max_digits (1..38) and "
                              "decimal_places (0..max_digits)",
                              err);
        break;
    case TDO_F_FK:
    case TDO_F_O2O:
    case TDO_F_M2M:
        if (!t->related_ref || !*t->related_ref)
            return conf_error(m, t, "requires a related model", err);
        if (!fk && (t->flags & TDO_FIELD_PK))
            return conf_error(m, t, "cannot be a primary key", err);
        /* Tortoise: SET_NULL needs null=True, SET_DEFAULT a default */
        if (fk && t->on_delete == TDO_SET_NULL && !(t->flags & TDO_FIELD_NULL))
            return conf_error(
                m, t, "has on_delete SET_NULL but is not null=true", err);
        if (fk && t->on_delete == TDO_SET_DEFAULT &&
            !(t->flags & TDO_FIELD_HAS_DEFAULT))
            return conf_error(m, t, "has on_delete SET_DEFAULT but no default",
                              err);
        break;
    default:
        break;
    }
    return TDO_OK;
}

/* Sets what the declaration implies on the new field f: its column
 * (name, or name_id for a relation; none for a many-to-many), UNIQUE for
 * a one-to-one, NOT NULL and GENERATED (an integer without a default) for
 * a primary key, a CharEnum's max_length from its longest value. */
static tdo_status implied(tdo_field *f, tdo_error *err)
{
    if (!f->column && f->type != TDO_F_M2M) {
        tdo_sb sb = TDO_SB_INIT;
        tdo_sb_adds(&sb, f->name);
        if (is_relation(f))
            tdo_sb_adds(&sb, "_id");
        if (!(f->column = tdo_sb_detach(&sb)))
            return tdo_nomem(err);
    }
    if (f->type == TDO_F_M2M) {
        tdo_free(f->column);
        f->column = NULL;
        f->flags &= ~(unsigned)(TDO_FIELD_UNIQUE | TDO_FIELD_INDEX);
    }
    if (f->type == TDO_F_O2O)
        f->flags |= TDO_FIELD_UNIQUE;
    if (f->flags & TDO_FIELD_PK) {
        f->flags &= ~(unsigned)TDO_FIELD_NULL;
        if (is_int_type(f->type) && !(f->flags & TDO_FIELD_HAS_DEFAULT))
            f->flags |= TDO_FIELD_GENERATED;
        /* Tortoise: UUIDField(primary_key=True) defaults to uuid4 */
        if (f->type == TDO_F_UUID && !(f->flags & TDO_FIELD_HAS_DEFAULT))
            f->flags |= TDO_FIELD_HAS_DEFAULT | TDO_FIELD_UUID4;
    }
    if (f->type == TDO_F_CHARENUM && f->max_length == 0) {
        for (size_t i = 0; i < f->n_enum; i++)
            if ((int)f->enum_values[i].u.s.len > f->max_length)
                f->max_length = (int)f->enum_values[i].u.s.len;
    }
    return TDO_OK;
}

/* Checks the template t for model m; returns a new field with column and
 * implied flags set, its constant default coerced (owned by the caller
 * until added to m). */
tdo_status tdo_field_make_(const tdo_model *m, const tdo_field_decl *t,
                           tdo_field **out, tdo_error *err)
{
    *out = NULL;
    tdo_status st = check_template(m, t, err);
    if (st)
        return st;
    tdo_field *f = tdo_calloc(1, sizeof(*f));
    if (!f)
        return tdo_nomem(err);
    if ((st = from_decl(f, t, err)) || (st = implied(f, err))) {
        tdo_field_free_(f);
        return st;
    }
    f->related_model = NULL;
    f->to_target = NULL;
    f->model = (tdo_model *)m;
    f->index = 0;
    if (f->flags & TDO_FIELD_CONST_DEFAULT &&
        f->default_value.type != TDO_NULL) {
        tdo_value v;
        if ((st = tdo_field_coerce(f, &f->default_value, &v, err))) {
            tdo_field_free_(f);
            return st;
        }
        tdo_value_release(&f->default_value);
        f->default_value = v;
    }
    *out = f;
    return TDO_OK;
}

/* ---- coerce --------------------------------------------------------- */

static const char *model_name(const tdo_field *f)
{
    return f->model ? f->model->name : "?";
}

/* FieldError: the value cannot become a value of f. */
static tdo_status bad_value(const tdo_field *f, const tdo_value *in,
                            const char *expect, tdo_error *err)
{
    tdo_sb sb = TDO_SB_INIT;
    tdo_value_format(&sb, in, true);
    if (sb.len > 80) {
        sb.len = 77;
        tdo_sb_adds(&sb, "...");
    }
    tdo_status st = tdo_error_set(
        err, TDO_ERR_FIELD,
        "invalid value %s (%s) for %s '%s' on model '%s': "
        "expected %s",
        sb.buf, tdo_type_name(in->type), tdo_field_type_name(f->type), f->name,
        model_name(f), expect);
    tdo_sb_release(&sb);
    return st;
}

/* Sets out to an owned copy of len bytes of p, as type t. */
static tdo_status own_bytes(tdo_type t, const char *p, size_t len,
                            tdo_value *out, tdo_error *err)
{
    char *copy = tdo_malloc(len + 1);
    if (!copy)
        return tdo_nomem(err);
    if (len)
        memcpy(copy, p, len);
    copy[len] = '\0';
    out->type = t;
    out->owned = true;
    out->u.s.ptr = copy;
    out->u.s.len = len;
    return TDO_OK;
}

/* Copies the text p[0..len) without its surrounding blanks into buf (cap
 * bytes, NUL-terminated). Returns the length copied, 0 when nothing is
 * left or it does not fit. */
static size_t trimmed_copy(const char *p, size_t len, char *buf, size_t cap)
{
    while (len && isspace((unsigned char)*p))
        p++, len--;
    while (len && isspace((unsigned char)p[len - 1]))
        len--;
    if (!len || len >= cap)
        return 0;
    memcpy(buf, p, len);
    buf[len] = '\0';
    return len;
}

/* Parses an integer written in text (surrounding blanks allowed). */
static bool text_to_int(const char *p, size_t len, int64_t *out)
{
    char buf[32];
    if (!(len = trimmed_copy(p, len, buf, sizeof(buf))))
        return false;
    for (size_t i = 0; i < len; i++)
        if (!isdigit((unsigned char)buf[i]) &&
            !(i == 0 && (buf[0] == '-' || buf[0] == '+') && len > 1))
            return false;
    errno = 0;
    long long v = strtoll(buf, NULL, 10);
    if (errno)
        return false;
    *out = v;
    return true;
}

static bool text_to_double(const char *p, size_t len, double *out)
{
    char buf[64];
    if (!trimmed_copy(p, len, buf, sizeof(buf)))
        return false;
    char *end;
    *out = strtod(buf, &end);
    return *end == '\0';
}

/* A double with an integral value in the int64 range. */
static bool double_to_int(double d, int64_t *out)
{
    if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0) ||
        floor(d) != d)
        return false;
    *out = (int64_t)d;
    return true;
}

/* Writes a number the way Lua's tostring does ("5", "1.5", "5.0"). */
static size_t lua_number_text(double d, char *buf, size_t cap)
{
    int n = snprintf(buf, cap, "%.14g", d);
    if (n < 0)
        return 0;
    if (buf[strspn(buf, "-0123456789")] == '\0' && (size_t)n + 2 < cap) {
        strcat(buf, ".0");
        n += 2;
    }
    return (size_t)n;
}

static tdo_status coerce_int(const tdo_field *f, const tdo_value *in,
                             tdo_value *out, tdo_error *err)
{
    int64_t i;
    switch (in->type) {
    case TDO_INT:
        *out = *in;
        return TDO_OK;
    case TDO_DOUBLE:
        if (!double_to_int(in->u.d, &i))
            break;
        *out = tdo_value_int(i);
        return TDO_OK;
    case TDO_TEXT:
        if (!text_to_int(in->u.s.ptr, in->u.s.len, &i))
            break;
        *out = tdo_value_int(i);
        return TDO_OK;
    case TDO_DECIMAL: {
        tdo_decimal q;
        tdo_error e2 = TDO_ERROR_INIT;
        if (tdo_decimal_quantize(&in->u.dec, 0, 0, &q, &e2) ||
            tdo_decimal_cmp(&q, &in->u.dec) != 0 || q.coef > INT64_MAX ||
            q.coef < INT64_MIN) {
            tdo_error_release(&e2);
            break;
        }
        *out = tdo_value_int((int64_t)q.coef);
        return TDO_OK;
    }
    default:
        break;
    }
    return bad_value(f, in, "an integer", err);
}

static tdo_status coerce_text(const tdo_field *f, const tdo_value *in,
                              tdo_value *out, tdo_error *err)
{
    char buf[64];
    size_t n;
    switch (in->type) {
    case TDO_TEXT:
    case TDO_UUID:
        return own_bytes(TDO_TEXT, in->u.s.ptr, in->u.s.len, out, err);
    case TDO_INT:
        n = (size_t)snprintf(buf, sizeof(buf), "%lld", (long long)in->u.i);
        return own_bytes(TDO_TEXT, buf, n, out, err);
    case TDO_DOUBLE:
        n = lua_number_text(in->u.d, buf, sizeof(buf));
        return own_bytes(TDO_TEXT, buf, n, out, err);
    case TDO_DECIMAL:
        n = tdo_decimal_format(&in->u.dec, buf, sizeof(buf));
        return own_bytes(TDO_TEXT, buf, n < sizeof(buf) ? n : sizeof(buf) - 1,
                         out, err);
    default:
        return bad_value(f, in, "a string", err);
    }
}

static tdo_status coerce_decimal(const tdo_field *f, const tdo_value *in,
                                 tdo_value *out, tdo_error *err)
{
    tdo_decimal d;
    tdo_error e2 = TDO_ERROR_INIT;
    bool ok = true;
    switch (in->type) {
    case TDO_DECIMAL:
        d = in->u.dec;
        break;
    case TDO_INT:
        tdo_decimal_from_int(in->u.i, &d);
        break;
    case TDO_DOUBLE:
        ok = tdo_decimal_from_double(in->u.d, &d, &e2) == TDO_OK;
        break;
    case TDO_TEXT:
        ok = tdo_decimal_parse(in->u.s.ptr, in->u.s.len, &d, &e2) == TDO_OK;
        break;
    default:
        ok = false;
        break;
    }
    if (!ok) {
        tdo_status st = e2.code == TDO_ERR_NOMEM
                            ? tdo_nomem(err)
                            : bad_value(f, in, "a decimal number", err);
        tdo_error_release(&e2);
        return st;
    }
    tdo_decimal q;
    if (tdo_decimal_quantize(&d, f->decimal_places, f->max_digits, &q, &e2)) {
        tdo_status st;
        if (e2.code == TDO_ERR_NOMEM) {
            st = tdo_nomem(err);
        } else {
            char buf[64];
            tdo_decimal_format(&d, buf, sizeof(buf));
            st = tdo_error_set(err, TDO_ERR_VALIDATION,
                               "%s: Value %s has more than %d digits "
                               "(max_digits=%d, decimal_places=%d)",
                               f->name, buf, f->max_digits, f->max_digits,
                               f->decimal_places);
        }
        tdo_error_release(&e2);
        return st;
    }
    *out = tdo_value_decimal(&q);
    return TDO_OK;
}

/* Parses ISO text as kind; FieldError naming the field on failure. */
static tdo_status parse_dt(const tdo_field *f, const tdo_value *in,
                           tdo_type kind, tdo_datetime *dt, tdo_error *err)
{
    tdo_error e2 = TDO_ERROR_INIT;
    tdo_status st = tdo_datetime_parse(in->u.s.ptr, in->u.s.len, kind, dt, &e2);
    if (st && kind == TDO_DATE) {
        tdo_error_release(&e2);
        st =
            tdo_datetime_parse(in->u.s.ptr, in->u.s.len, TDO_DATETIME, dt, &e2);
    }
    if (st) {
        st = e2.code == TDO_ERR_NOMEM
                 ? tdo_nomem(err)
                 : bad_value(f, in,
                             kind == TDO_DATE   ? "an ISO 8601 date"
                             : kind == TDO_TIME ? "an ISO 8601 time"
                                                : "an ISO 8601 datetime",
                             err);
    }
    tdo_error_release(&e2);
    return st;
}

static tdo_status coerce_dt(const tdo_field *f, tdo_type kind,
                            const tdo_value *in, tdo_value *out, tdo_error *err)
{
    tdo_datetime dt;
    memset(&dt, 0, sizeof(dt));
    if (in->type == kind) {
        *out = *in;
        out->owned = false;
        return TDO_OK;
    }
    if (in->type == TDO_TEXT) {
        tdo_status st = parse_dt(f, in, kind, &dt, err);
        if (st)
            return st;
    } else if (in->type == TDO_DATETIME || in->type == TDO_DATE) {
        if (kind == TDO_TIME && in->type == TDO_DATE)
            return bad_value(f, in, "a time", err);
        dt = in->u.dt;
    } else {
        return bad_value(f, in,
                         kind == TDO_DATE   ? "a date"
                         : kind == TDO_TIME ? "a time"
                                            : "a datetime",
                         err);
    }
    if (kind == TDO_DATE) {
        dt.hour = dt.minute = dt.second = 0;
        dt.usec = 0;
        dt.offset_min = 0;
        dt.has_offset = false;
    } else if (kind == TDO_TIME) {
        dt.year = 0;
        dt.month = dt.day = 0;
    } else if (in->type == TDO_DATE) {
        dt.hour = dt.minute = dt.second = 0;
        dt.usec = 0;
        dt.has_offset = false;
        dt.offset_min = 0;
    }
    out->type = kind;
    out->owned = false;
    out->u.dt = dt;
    return TDO_OK;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static tdo_status coerce_uuid(const tdo_field *f, const tdo_value *in,
                              tdo_value *out, tdo_error *err)
{
    if (in->type != TDO_TEXT && in->type != TDO_UUID)
        return bad_value(f, in, "a UUID", err);
    char hex[33];
    size_t n = 0;
    const char *p = in->u.s.ptr;
    size_t len = in->u.s.len;
    if (len >= 2 && p[0] == '{' && p[len - 1] == '}')
        p++, len -= 2;
    for (size_t i = 0; i < len; i++) {
        if (p[i] == '-')
            continue;
        if (hexval((unsigned char)p[i]) < 0 || n == 32)
            return bad_value(f, in, "a UUID", err);
        hex[n++] = (char)tolower((unsigned char)p[i]);
    }
    if (n != 32)
        return bad_value(f, in, "a UUID", err);
    char canon[37];
    snprintf(canon, sizeof(canon), "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8,
             hex + 12, hex + 16, hex + 20);
    return own_bytes(TDO_UUID, canon, 36, out, err);
}

static tdo_status coerce_bool(const tdo_field *f, const tdo_value *in,
                              tdo_value *out, tdo_error *err)
{
    if (in->type == TDO_BOOL) {
        *out = *in;
        return TDO_OK;
    }
    if (in->type == TDO_INT && (in->u.i == 0 || in->u.i == 1)) {
        *out = tdo_value_bool(in->u.i == 1);
        return TDO_OK;
    }
    if (in->type == TDO_TEXT) {
        static const char *const yes[] = {"true", "1"}, *const no[] = {"false",
                                                                       "0"};
        for (int i = 0; i < 2; i++) {
            size_t l = strlen(yes[i]);
            if (in->u.s.len == l && strncasecmp(in->u.s.ptr, yes[i], l) == 0) {
                *out = tdo_value_bool(true);
                return TDO_OK;
            }
            l = strlen(no[i]);
            if (in->u.s.len == l && strncasecmp(in->u.s.ptr, no[i], l) == 0) {
                *out = tdo_value_bool(false);
                return TDO_OK;
            }
        }
    }
    return bad_value(f, in, "a boolean", err);
}

/* Checks that v fits f's column on every backend (see testudo.h). */
tdo_status tdo_field_check(const tdo_field *f, const tdo_value *v,
                           tdo_error *err)
{
    int64_t lo = INT64_MIN, hi = INT64_MAX;
    switch (f->type) {
    case TDO_F_SMALLINT:
    case TDO_F_INTENUM:
        lo = INT16_MIN, hi = INT16_MAX;
        break;
    case TDO_F_INT:
        lo = INT32_MIN, hi = INT32_MAX;
        break;
    default:
        break;
    }
    if (v->type == TDO_INT && v->u.i < lo)
        return tdo_error_set(err, TDO_ERR_VALIDATION,
                             "%s: Value should be greater or equal to %lld",
                             f->name, (long long)lo);
    if (v->type == TDO_INT && v->u.i > hi)
        return tdo_error_set(err, TDO_ERR_VALIDATION,
                             "%s: Value should be less or equal to %lld",
                             f->name, (long long)hi);
    if (v->type == TDO_DOUBLE && !isfinite(v->u.d))
        return tdo_error_set(err, TDO_ERR_VALIDATION,
                             "%s: %s cannot be stored (NaN and infinities are "
                             "refused on every database)",
                             f->name,
                             isnan(v->u.d) ? "NaN"
                             : v->u.d > 0  ? "inf"
                                           : "-inf");
    return TDO_OK;
}

/* Converts in to f's canonical value; out owns its bytes. */
tdo_status tdo_field_coerce(const tdo_field *f, const tdo_value *in,
                            tdo_value *out, tdo_error *err)
{
    *out = tdo_value_null();
    if (in->type == TDO_NULL)
        return TDO_OK;
    switch (f->type) {
    case TDO_F_INT:
    case TDO_F_BIGINT:
    case TDO_F_SMALLINT:
    case TDO_F_INTENUM:
        return coerce_int(f, in, out, err);
    case TDO_F_FLOAT: {
        double d;
        if (in->type == TDO_DOUBLE) {
            *out = *in;
            return TDO_OK;
        }
        if (in->type == TDO_INT) {
            *out = tdo_value_double((double)in->u.i);
            return TDO_OK;
        }
        if (in->type == TDO_DECIMAL) {
            *out = tdo_value_double(tdo_decimal_to_double(&in->u.dec));
            return TDO_OK;
        }
        if (in->type == TDO_TEXT &&
            text_to_double(in->u.s.ptr, in->u.s.len, &d)) {
            *out = tdo_value_double(d);
            return TDO_OK;
        }
        return bad_value(f, in, "a number", err);
    }
    case TDO_F_DECIMAL:
        return coerce_decimal(f, in, out, err);
    case TDO_F_CHAR:
    case TDO_F_TEXT:
    case TDO_F_CHARENUM:
        return coerce_text(f, in, out, err);
    case TDO_F_BOOL:
        return coerce_bool(f, in, out, err);
    case TDO_F_DATETIME:
        return coerce_dt(f, TDO_DATETIME, in, out, err);
    case TDO_F_DATE:
        return coerce_dt(f, TDO_DATE, in, out, err);
    case TDO_F_TIME:
        return coerce_dt(f, TDO_TIME, in, out, err);
    case TDO_F_TIMEDELTA:
        if (in->type == TDO_DURATION) {
            *out = *in;
            return TDO_OK;
        }
        if (in->type == TDO_INT) {
            out->type = TDO_DURATION;
            out->owned = false;
            out->u.us = in->u.i;
            return TDO_OK;
        }
        return bad_value(f, in, "a duration", err);
    case TDO_F_UUID:
        return coerce_uuid(f, in, out, err);
    case TDO_F_JSON: {
        char buf[64];
        size_t n;
        switch (in->type) {
        case TDO_JSON:
        case TDO_TEXT:
            return own_bytes(TDO_JSON, in->u.s.ptr, in->u.s.len, out, err);
        case TDO_BOOL:
            return own_bytes(TDO_JSON, in->u.b ? "true" : "false",
                             in->u.b ? 4 : 5, out, err);
        case TDO_INT:
            n = (size_t)snprintf(buf, sizeof(buf), "%lld", (long long)in->u.i);
            return own_bytes(TDO_JSON, buf, n, out, err);
        case TDO_DOUBLE:
            if (!isfinite(in->u.d))
                break;
            n = (size_t)snprintf(buf, sizeof(buf), "%.17g", in->u.d);
            return own_bytes(TDO_JSON, buf, n, out, err);
        default:
            break;
        }
        return bad_value(f, in, "JSON text", err);
    }
    case TDO_F_BINARY:
        if (in->type == TDO_BLOB || in->type == TDO_TEXT)
            return own_bytes(TDO_BLOB, in->u.s.ptr, in->u.s.len, out, err);
        return bad_value(f, in, "bytes", err);
    case TDO_F_FK:
    case TDO_F_O2O: {
        const tdo_field *t = tdo_field_key_target(f);
        if (t && t != f)
            return tdo_field_coerce(t, in, out, err);
        return coerce_int(f, in, out, err);
    }
    case TDO_F_M2M:
        return tdo_error_set(err, TDO_ERR_FIELD,
                             "ManyToManyField '%s' on model '%s' holds no "
                             "value (use add/remove)",
                             f->name, model_name(f));
    case TDO_F_COUNT:
        break;
    }
    return bad_value(f, in, "a value", err);
}

/* ---- validate ------------------------------------------------------- */

/* Number of UTF-8 characters of p (max_length, the length validators). */
size_t tdo_utf8_len_(const char *p, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        if (((unsigned char)p[i] & 0xC0) != 0x80)
            n++;
    return n;
}

static int decimal_int_digits(const tdo_decimal *d)
{
    unsigned __int128 u = d->coef < 0 ? (unsigned __int128)(-d->coef)
                                      : (unsigned __int128)d->coef;
    int n = 0;
    while (u) {
        u /= 10;
        n++;
    }
    n -= d->scale;
    return n > 0 ? n : 0;
}

/* The checks every field of its type makes (NULL on a not-null field,
 * max_length, enum membership, max_digits). */
static tdo_status builtin_checks(const tdo_field *f, const tdo_value *v,
                                 tdo_error *err)
{
    if (v->type == TDO_NULL) {
        if (f->flags & (TDO_FIELD_NULL | TDO_FIELD_GENERATED) ||
            f->type == TDO_F_M2M)
            return TDO_OK;
        /* a char field's max_length validator refuses it (Tortoise's
         * MaxLengthValidator); any other is left to the database's NOT
         * NULL, said here the way it would say it */
        if (f->type == TDO_F_CHAR || f->type == TDO_F_CHARENUM)
            return tdo_error_set(err, TDO_ERR_VALIDATION,
                                 "%s: Value must not be None", f->name);
        return tdo_error_set(err, TDO_ERR_INTEGRITY,
                             "NOT NULL constraint failed: %s.%s",
                             f->model ? tdo_model_table(f->model) : "?",
                             f->column ? f->column : f->name);
    }
    if ((f->type == TDO_F_CHAR || f->type == TDO_F_CHARENUM) &&
        v->type == TDO_TEXT && f->max_length > 0) {
        size_t n = tdo_utf8_len_(v->u.s.ptr, v->u.s.len);
        if (n > (size_t)f->max_length)
            return tdo_error_set(err, TDO_ERR_VALIDATION,
                                 "%s: Length of '%.*s' %zu > %d", f->name,
                                 (int)v->u.s.len, v->u.s.ptr, n, f->max_length);
    }
    if (f->n_enum) {
        for (size_t i = 0; i < f->n_enum; i++)
            if (tdo_value_cmp(&f->enum_values[i], v) == 0)
                return TDO_OK;
        tdo_sb sb = TDO_SB_INIT;
        tdo_value_format(&sb, v, true);
        tdo_sb_adds(&sb, " is not a valid value (");
        for (size_t i = 0; i < f->n_enum; i++) {
            if (i)
                tdo_sb_adds(&sb, ", ");
            tdo_value_format(&sb, &f->enum_values[i], true);
        }
        tdo_sb_addc(&sb, ')');
        tdo_status st =
            tdo_error_set(err, TDO_ERR_VALIDATION, "%s: %s", f->name, sb.buf);
        tdo_sb_release(&sb);
        return st;
    }
    if (f->type == TDO_F_DECIMAL && v->type == TDO_DECIMAL &&
        f->max_digits > 0 &&
        decimal_int_digits(&v->u.dec) > f->max_digits - f->decimal_places) {
        char buf[64];
        tdo_decimal_format(&v->u.dec, buf, sizeof(buf));
        return tdo_error_set(err, TDO_ERR_VALIDATION,
                             "%s: Value %s has more than %d digits "
                             "(max_digits=%d, decimal_places=%d)",
                             f->name, buf, f->max_digits, f->max_digits,
                             f->decimal_places);
    }
    return TDO_OK;
}

/* Checks a canonical value against f: its type's checks, then its
 * validators; ValidationError "<field>: <message>" (IntegrityError for
 * a NULL the database would refuse).  NULL is accepted for generated
 * fields. */
tdo_status tdo_field_validate(const tdo_field *f, const tdo_value *v,
                              tdo_error *err)
{
    tdo_status st = builtin_checks(f, v, err);
    if (!st && f->nvalidators)
        st = tdo_validators_run_(f, v, err);
    return st;
}
