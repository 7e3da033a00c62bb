/*
 * save.c -- what happens to a row of a model before it is written, one
 * function per step, used by the Lua bindings field by field and by C
 * callers through tdo_row_prepare() / tdo_row_insert(): constant
 * defaults for the fields not given, auto_now / auto_now_add times,
 * coercion to each field's canonical value, validation.
 */
#include "tdo_int.h"

#include <uuid/uuid.h>

/* Writes a new random UUID4 into out (see testudo.h). */
void tdo_uuid4(char out[37])
{
    uuid_t u;
    uuid_generate_random(u);
    uuid_unparse_lower(u, out);
}

/* Step 1: the constant default of f, or a new UUID4 (see testudo.h). */
bool tdo_field_default(const tdo_field *f, tdo_value *out)
{
    *out = tdo_value_null();
    if (f->flags & TDO_FIELD_UUID4) {
        char text[37];
        tdo_uuid4(text);
        tdo_value v = tdo_value_text(text, 36);
        return tdo_value_copy(out, &v) == TDO_OK;
    }
    if (!(f->flags & TDO_FIELD_CONST_DEFAULT))
        return false;
    return tdo_value_copy(out, &f->default_value) == TDO_OK;
}

/* Step 2: the time an auto_now / auto_now_add field takes (see
 * testudo.h). */
bool tdo_field_auto_now(const tdo_field *f, bool creating, bool is_set,
                        const tdo_datetime *now, tdo_value *out)
{
    *out = tdo_value_null();
    bool always = f->flags & TDO_FIELD_AUTO_NOW;
    bool on_add = (f->flags & TDO_FIELD_AUTO_NOW_ADD) && creating && !is_set;
    if (!always && !on_add)
        return false;
    tdo_datetime dt = *now;
    out->type = f->type == TDO_F_DATE   ? TDO_DATE
                : f->type == TDO_F_TIME ? TDO_TIME
                                        : TDO_DATETIME;
    if (out->type == TDO_DATE) {
        dt.hour = dt.minute = dt.second = 0;
        dt.usec = 0;
        dt.has_offset = false;
        dt.offset_min = 0;
    } else if (out->type == TDO_TIME) {
        dt.year = 0;
        dt.month = dt.day = 0;
    }
    out->u.dt = dt;
    return true;
}

/* Prepares a row of m for writing (see testudo.h). */
tdo_status tdo_row_prepare(const tdo_model *m, tdo_value *values, bool *set,
                           bool creating, const tdo_datetime *now,
                           tdo_error *err)
{
    for (size_t i = 0; i < m->nfields; i++) {
        const tdo_field *f = m->fields[i];
        if (f->type == TDO_F_M2M)
            continue;
        tdo_value v;
        if (!set[i] && creating && tdo_field_default(f, &v)) {
            values[i] = v;
            set[i] = true;
        }
        if (tdo_field_auto_now(f, creating, set[i], now, &v)) {
            tdo_value_release(&values[i]);
            values[i] = v;
            set[i] = true;
        }
        if (!set[i])
            continue;
        tdo_status st = tdo_field_coerce(f, &values[i], &v, err);
        if (st)
            return st;
        tdo_value_release(&values[i]);
        values[i] = v;
        if ((st = tdo_field_validate(f, &values[i], err)) ||
            (st = tdo_field_check(f, &values[i], err)))
            return st;
    }
    return TDO_OK;
}

/* The fields of a row that are set (many-to-many never; the primary key
 * not when no_pk) and their values, borrowed from values. */
typedef struct set_fields {
    const tdo_field **fields;
    tdo_value *vals;
    size_t n;
} set_fields;

static tdo_status set_fields_of(const tdo_model *m, const tdo_value *values,
                                const bool *set, bool no_pk, set_fields *out,
                                tdo_error *err)
{
    size_t cap = m->nfields ? m->nfields : 1;
    out->n = 0;
    out->fields = tdo_calloc(cap, sizeof(*out->fields));
    out->vals = tdo_calloc(cap, sizeof(*out->vals));
    if (!out->fields || !out->vals) {
        tdo_free(out->fields);
        tdo_free(out->vals);
        return tdo_nomem(err);
    }
    for (size_t i = 0; i < m->nfields; i++) {
        const tdo_field *f = m->fields[i];
        if (!set[i] || f->type == TDO_F_M2M ||
            (no_pk && (f->flags & TDO_FIELD_PK)))
            continue;
        out->fields[out->n] = f;
        out->vals[out->n] = values[i];
        out->vals[out->n++].owned = false;
    }
    return TDO_OK;
}

static void set_fields_free(set_fields *sf)
{
    tdo_free(sf->fields);
    tdo_free(sf->vals);
}

/* Inserts one row of m from values/set (see testudo.h). */
tdo_status tdo_row_insert(tdo_conn *c, const tdo_model *m, tdo_value *values,
                          bool *set, tdo_value *pk, tdo_error *err)
{
    tdo_signal_event ev = {
        .signal = TDO_SIG_PRE_SAVE, .model = m, .values = values, .conn = c};
    tdo_status st = tdo_signal_emit(&ev, err); /* may change values */
    if (st)
        return st;
    tdo_datetime now;
    tdo_datetime_now(tdo_ctx_use_tz(m->ctx), &now);
    st = tdo_row_prepare(m, values, set, true, &now, err);
    if (st)
        return st;
    set_fields sf;
    if ((st = set_fields_of(m, values, set, false, &sf, err)))
        return st;
    st = tdo_insert(c, m, sf.fields, sf.n, sf.vals, 1, false, pk, err);
    set_fields_free(&sf);
    if (!st) {
        ev.signal = TDO_SIG_POST_SAVE;
        ev.created = true;
        ev.pk = pk;
        st = tdo_signal_emit(&ev, err);
    }
    return st;
}

/* Updates one row as an instance save (see testudo.h). */
tdo_status tdo_row_update(tdo_conn *c, const tdo_model *m, tdo_value *values,
                          bool *set, const tdo_value *pk, void *instance,
                          int64_t *changed, tdo_error *err)
{
    tdo_signal_event ev = {.signal = TDO_SIG_PRE_SAVE,
                           .model = m,
                           .instance = instance,
                           .values = values,
                           .pk = pk,
                           .conn = c};
    tdo_status st = tdo_signal_emit(&ev, err);
    if (st)
        return st;
    tdo_datetime now;
    tdo_datetime_now(tdo_ctx_use_tz(m->ctx), &now);
    if ((st = tdo_row_prepare(m, values, set, false, &now, err)))
        return st;
    set_fields sf;
    int64_t n = 0;
    if ((st = set_fields_of(m, values, set, true, &sf, err)))
        return st;
    if (sf.n)
        st = tdo_update_pk(c, m, sf.fields, sf.vals, sf.n, pk, &n, err);
    set_fields_free(&sf);
    if (changed)
        *changed = n;
    if (!st) {
        ev.signal = TDO_SIG_POST_SAVE;
        st = tdo_signal_emit(&ev, err);
    }
    return st;
}

/* ---- signals --------------------------------------------------------- */

/* Adds a handler of sig to m (see testudo.h). */
tdo_status tdo_model_connect(tdo_model *m, tdo_signal sig, tdo_signal_fn fn,
                             void *ud, tdo_error *err)
{
    if (sig < 0 || sig >= TDO_SIG_COUNT || !fn)
        return tdo_error_set(err, TDO_ERR_PARAMS, "bad signal handler");
    tdo_handler *h =
        tdo_realloc(m->handlers[sig], (m->nhandlers[sig] + 1) * sizeof(*h));
    if (!h)
        return tdo_nomem(err);
    h[m->nhandlers[sig]++] = (tdo_handler){fn, ud};
    m->handlers[sig] = h;
    return TDO_OK;
}

/* How many handlers m has for sig. */
size_t tdo_model_nhandlers(const tdo_model *m, tdo_signal sig)
{
    return sig >= 0 && sig < TDO_SIG_COUNT ? m->nhandlers[sig] : 0;
}

/* Runs ev's handlers in order; the first error stops them. */
tdo_status tdo_signal_emit(const tdo_signal_event *ev, tdo_error *err)
{
    const tdo_model *m = ev->model;
    if (!m || ev->signal < 0 || ev->signal >= TDO_SIG_COUNT)
        return TDO_OK;
    /* a handler may connect another: count the ones there now */
    size_t n = m->nhandlers[ev->signal];
    for (size_t i = 0; i < n; i++) {
        const tdo_handler h = m->handlers[ev->signal][i];
        tdo_status st = h.fn(ev, h.ud, err);
        if (st)
            return st;
    }
    return TDO_OK;
}

/* Deletes one row as an instance delete (see testudo.h). */
tdo_status tdo_row_delete(tdo_conn *c, const tdo_model *m, const tdo_value *pk,
                          void *instance, int64_t *deleted, tdo_error *err)
{
    tdo_signal_event ev = {.signal = TDO_SIG_PRE_DELETE,
                           .model = m,
                           .instance = instance,
                           .pk = pk,
                           .conn = c};
    int64_t n = 0;
    tdo_status st = tdo_signal_emit(&ev, err);
    if (!st)
        st = tdo_delete_pk(c, m, pk, &n, err);
    if (deleted)
        *deleted = n;
    ev.signal = TDO_SIG_POST_DELETE;
    if (!st)
        st = tdo_signal_emit(&ev, err);
    return st;
}
