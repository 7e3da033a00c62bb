/*
 * save.c -- what happens to a row of a model before it is written, one
 * function per step, used by the Lua bindings field by field and by C
 * callers through tdo_row_prepare() / tdo_row_insert(): constant
 * defaults for the fields not given, auto_now / auto_now_add times,
 * coercion to each field's canonical value, validation.
 */
#include "tdo_int.h"

#include <stdio.h>
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

/* ---- one row's save ------------------------------------------------ */

/* The io of a C caller's row: values[i] for field i, given when set[i]. */
typedef struct array_row {
    tdo_value *values;
    bool *set;
} array_row;

static tdo_status array_read(void *obj, const tdo_model *m, const bool *want,
                             tdo_value *values, bool *given, tdo_error *err)
{
    (void)want;
    (void)err;
    array_row *r = obj;
    for (size_t i = 0; i < m->nfields; i++) {
        given[i] = r->set[i];
        values[i] = r->values[i];
        values[i].owned = false; /* the caller's */
    }
    return TDO_OK;
}

static tdo_status array_write(void *obj, const tdo_model *m,
                              const tdo_value *values, const bool *written,
                              bool inserted, tdo_error *err)
{
    (void)inserted;
    array_row *r = obj;
    for (size_t i = 0; i < m->nfields; i++) {
        tdo_value copy;
        if (!written[i])
            continue;
        if (tdo_value_copy(&copy, &values[i]))
            return tdo_nomem(err);
        tdo_value_release(&r->values[i]);
        r->values[i] = copy;
        r->set[i] = true;
    }
    return TDO_OK;
}

static const tdo_row_io array_io = {array_read, array_write};

/* Whether f is named in o's update_fields. */
static bool listed(const tdo_save_opts *o, const tdo_field *f)
{
    for (size_t j = 0; j < o->nupdate_fields; j++)
        if (!strcmp(o->update_fields[j], f->name))
            return true;
    return false;
}

/* One row on its way to the database. in[i] / given[i]: field i as the
 * object holds it (in[i] owned when in[i].owned); out[i]: what the save
 * writes for it (owned), written[i] when it does; fields / vals: the
 * columns of the statement (vals borrowed from out). */
typedef struct row_buf {
    size_t nf;
    tdo_value *in, *out, *vals;
    bool *given, *want, *written;
    const tdo_field **fields;
    size_t n;
} row_buf;

static tdo_status row_buf_init(row_buf *b, const tdo_model *m, tdo_error *err)
{
    size_t nf = m->nfields ? m->nfields : 1;
    *b = (row_buf){.nf = m->nfields};
    b->in = tdo_calloc(nf, sizeof(*b->in));
    b->out = tdo_calloc(nf, sizeof(*b->out));
    b->vals = tdo_calloc(nf, sizeof(*b->vals));
    b->given = tdo_calloc(nf, sizeof(*b->given));
    b->want = tdo_calloc(nf, sizeof(*b->want));
    b->written = tdo_calloc(nf, sizeof(*b->written));
    b->fields = tdo_calloc(nf, sizeof(*b->fields));
    if (!b->in || !b->out || !b->vals || !b->given || !b->want || !b->written ||
        !b->fields)
        return tdo_nomem(err);
    return TDO_OK;
}

/* Frees what the row read (in) and wrote (out), keeping the arrays. */
static void row_buf_clear(row_buf *b)
{
    for (size_t i = 0; b->in && i < b->nf; i++) {
        tdo_value_release(&b->in[i]);
        tdo_value_release(&b->out[i]);
        b->written[i] = b->given[i] = false;
    }
    b->n = 0;
}

static void row_buf_free(row_buf *b)
{
    row_buf_clear(b);
    tdo_free(b->in);
    tdo_free(b->out);
    tdo_free(b->vals);
    tdo_free(b->given);
    tdo_free(b->want);
    tdo_free(b->written);
    tdo_free(b->fields);
}

/* Index of f in m's fields. */
static size_t field_index(const tdo_model *m, const tdo_field *f)
{
    for (size_t i = 0; i < m->nfields; i++)
        if (m->fields[i] == f)
            return i;
    return 0;
}

/* The fields a save reads: all of them, or update_fields and the key. */
static void want_fields(const tdo_model *m, const tdo_save_opts *o,
                        bool creating, bool *want)
{
    for (size_t i = 0; i < m->nfields; i++) {
        const tdo_field *f = m->fields[i];
        want[i] = f->type != TDO_F_M2M &&
                  (creating || !o->update_fields || listed(o, f));
    }
    for (size_t k = 0; k < tdo_model_nkey(m); k++)
        want[field_index(m, tdo_model_key(m, k))] = true;
}

/* The fields a save reads to find the key: the key's only. */
static void want_key(const tdo_model *m, bool *want)
{
    for (size_t i = 0; i < m->nfields; i++)
        want[i] = false;
    for (size_t k = 0; k < tdo_model_nkey(m); k++)
        want[field_index(m, tdo_model_key(m, k))] = true;
}

/* The key of the row as read (coerced into key[], owned); *have false
 * when a key field is unset. */
static tdo_status row_key(const tdo_model *m, const row_buf *b, tdo_value *key,
                          bool *have, tdo_error *err)
{
    size_t n = tdo_model_nkey(m), k = 0;
    tdo_status st = TDO_OK;
    *have = n > 0;
    for (; k < n && *have && !st; k++) {
        const tdo_field *f = tdo_model_key(m, k);
        const tdo_value *v = &b->in[field_index(m, f)];
        if (!b->given[field_index(m, f)] || v->type == TDO_NULL)
            *have = false;
        else
            st = tdo_field_coerce(f, v, &key[k], err);
    }
    if (st || !*have)
        for (size_t i = 0; i < k; i++)
            tdo_value_release(&key[i]);
    return st;
}

/* Prepares and checks the fields an INSERT (creating) or an UPDATE
 * writes from b->in: defaults for the fields not given (creating), the
 * auto_now times, canonical values, validators and checks; fills out,
 * written and the statement's columns. */
static tdo_status prepare(const tdo_model *m, const tdo_save_opts *o,
                          bool creating, bool skip_pk, const tdo_datetime *now,
                          row_buf *b, tdo_error *err)
{
    for (size_t i = 0; i < m->nfields; i++) {
        const tdo_field *f = m->fields[i];
        if (f->type == TDO_F_M2M ||
            (!creating && o->update_fields && !listed(o, f)) ||
            (skip_pk && (f->flags & TDO_FIELD_PK)))
            continue;
        const tdo_value *in = &b->in[i];
        tdo_value v, made = tdo_value_null();
        bool given = b->given[i];
        bool is_null = !given || in->type == TDO_NULL;
        if (!given && creating && tdo_field_default(f, &made)) {
            given = true; /* step 1 */
            is_null = made.type == TDO_NULL;
            in = &made;
        }
        if (tdo_field_auto_now(f, creating, !is_null, now, &v)) {
            tdo_value_release(&made); /* step 2 */
            made = v;
            in = &made;
            given = true;
            is_null = false;
        }
        if (!given ||
            ((f->flags & TDO_FIELD_PK) &&
             (!creating || (is_null && (f->flags & TDO_FIELD_GENERATED)))) ||
            (creating && is_null && f->db_default)) {
            /* left out: the database fills it (its DEFAULT, a generated
             * key); an UPDATE never writes the key */
            tdo_value_release(&made);
            continue;
        }
        tdo_status st = tdo_field_coerce(f, in, &b->out[i], err); /* step 3 */
        tdo_value_release(&made);
        if (st)
            return st;
        b->written[i] = true;
        b->fields[b->n] = f;
        b->vals[b->n] = b->out[i];
        b->vals[b->n++].owned = false;
        if ((st = tdo_field_validate(f, &b->out[i], err)) || /* step 4 */
            (st = tdo_field_check(f, &b->out[i], err)))
            return st;
    }
    return TDO_OK;
}

/* Reads the row the object holds (the fields want says) into b. */
static tdo_status read_row(const tdo_model *m, const tdo_row_io *io, void *obj,
                           row_buf *b, tdo_error *err)
{
    return io->read(obj, m, b->want, b->in, b->given, err);
}

/* Saves one row (see testudo.h); key: the key of an UPDATE when the
 * caller gives it (else read from the object); values: the pre_save
 * event's values (a C caller's row), or NULL. */
static tdo_status row_save(tdo_conn *c, const tdo_model *m,
                           const tdo_row_io *io, void *obj, void *instance,
                           const tdo_save_opts *o, const tdo_value *key,
                           tdo_value *values, bool *created, tdo_value *pk_out,
                           int64_t *changed, tdo_error *err)
{
    static const tdo_save_opts none;
    if (!o)
        o = &none;
    for (size_t j = 0; j < o->nupdate_fields; j++)
        if (!tdo_model_field_by_name(m, o->update_fields[j]))
            return tdo_error_set(err, TDO_ERR_FIELD,
                                 "Unknown field '%s' for model '%s'",
                                 o->update_fields[j], tdo_model_name(m));
    size_t nkey = tdo_model_nkey(m);
    tdo_value *own_key = tdo_calloc(nkey ? nkey : 1, sizeof(*own_key));
    row_buf b;
    tdo_status st = row_buf_init(&b, m, err);
    if (!st && !own_key)
        st = tdo_nomem(err);
    const tdo_field *pkf = tdo_model_pk(m);
    bool creating = o->force_create || (!o->saved && !o->force_update);
    bool have_key = key != NULL;
    tdo_value pk = tdo_value_null();
    int64_t n = 0;
    if (st)
        goto out;
    if (!creating && !key) {
        /* a saved instance whose key was set to NULL is saved as a new
         * row (Tortoise's implicit clone) */
        want_key(m, b.want);
        if ((st = read_row(m, io, obj, &b, err)) ||
            (st = row_key(m, &b, own_key, &have_key, err)))
            goto out;
        row_buf_clear(&b);
        if (!o->force_update && pkf && !have_key)
            creating = true;
    }
    tdo_signal_event ev = {.signal = TDO_SIG_PRE_SAVE,
                           .model = m,
                           .instance = instance,
                           .values = values,
                           .pk = key        ? key
                                 : have_key ? own_key
                                            : NULL,
                           .update_fields = creating ? NULL : o->update_fields,
                           .nupdate_fields = creating ? 0 : o->nupdate_fields,
                           .conn = c};
    if ((st = tdo_signal_emit(&ev, err))) /* may still change the row */
        goto out;
    tdo_datetime now;
    tdo_datetime_now(tdo_ctx_use_tz(m->ctx), &now);
    want_fields(m, o, creating, b.want);
    if ((st = read_row(m, io, obj, &b, err)) ||
        (st = prepare(m, o, creating, false, &now, &b, err)))
        goto out;
    if (creating) {
        st = tdo_insert(c, m, b.fields, b.n, b.vals, 1, false, &pk, err);
        if (!st && pkf && pk.type != TDO_NULL) {
            size_t pi = field_index(m, pkf);
            tdo_value_release(&b.out[pi]);
            st = tdo_value_copy(&b.out[pi], &pk) ? tdo_nomem(err) : TDO_OK;
            b.written[pi] = true;
        }
        ev.pk = &pk;
    } else if (b.n) {
        if (!have_key && !tdo_model_read_only(m)) {
            st = tdo_error_set(err, TDO_ERR_OPERATIONAL,
                               "cannot update an instance without a "
                               "primary key");
            goto out;
        }
        const tdo_value *k = key ? key : have_key ? own_key : NULL;
        st = tdo_update_pk(c, m, b.fields, b.vals, b.n, k, &n, err);
        if (!st && o->force_update && n == 0) {
            tdo_sb t = TDO_SB_INIT;
            if (k)
                tdo_value_format(&t, &k[0], false);
            st = tdo_error_set(err, TDO_ERR_INTEGRITY,
                               "Can't update object that doesn't exist. "
                               "PK: %s",
                               t.buf);
            tdo_sb_release(&t);
        }
    }
    if (!st) /* what was written, back into the object */
        st = io->write(obj, m, b.out, b.written, creating, err);
    if (!st) {
        ev.signal = TDO_SIG_POST_SAVE;
        ev.created = creating;
        st = tdo_signal_emit(&ev, err);
    }
    if (changed)
        *changed = n;
    if (created)
        *created = creating;
    if (pk_out && !st) {
        *pk_out = pk;
        pk = tdo_value_null();
    }
out:
    tdo_value_release(&pk);
    if (have_key && !key)
        for (size_t i = 0; i < nkey; i++)
            tdo_value_release(&own_key[i]);
    tdo_free(own_key);
    row_buf_free(&b);
    return st;
}

/* Saves one row of m held by the caller's object obj (see testudo.h). */
tdo_status tdo_row_save(tdo_conn *c, const tdo_model *m, const tdo_row_io *io,
                        void *obj, const tdo_save_opts *opts, bool *created,
                        tdo_error *err)
{
    return row_save(c, m, io, obj, obj, opts, NULL, NULL, created, NULL, NULL,
                    err);
}

/* Inserts one row of m from values/set (see testudo.h). */
tdo_status tdo_row_insert(tdo_conn *c, const tdo_model *m, tdo_value *values,
                          bool *set, tdo_value *pk, tdo_error *err)
{
    array_row r = {values, set};
    tdo_save_opts o = {.force_create = true};
    if (pk)
        *pk = tdo_value_null();
    return row_save(c, m, &array_io, &r, NULL, &o, NULL, values, NULL, pk, NULL,
                    err);
}

/* Updates one row as an instance save (see testudo.h). */
tdo_status tdo_row_update(tdo_conn *c, const tdo_model *m, tdo_value *values,
                          bool *set, const tdo_value *pk, void *instance,
                          int64_t *changed, tdo_error *err)
{
    array_row r = {values, set};
    tdo_save_opts o = {.saved = true};
    return row_save(c, m, &array_io, &r, instance, &o, pk, values, NULL, NULL,
                    changed, err);
}

/* Prepares a row of m for writing (see testudo.h). */
tdo_status tdo_row_prepare(const tdo_model *m, tdo_value *values, bool *set,
                           bool creating, const tdo_datetime *now,
                           tdo_error *err)
{
    static const tdo_save_opts none;
    array_row r = {values, set};
    row_buf b;
    tdo_status st = row_buf_init(&b, m, err);
    if (!st)
        st = array_read(&r, m, NULL, b.in, b.given, err);
    if (!st)
        st = prepare(m, &none, creating, false, now, &b, err);
    if (!st)
        st = array_write(&r, m, b.out, b.written, false, err);
    row_buf_free(&b);
    return st;
}

/* ---- bulk_create ---------------------------------------------------- */

/* After an upsert on a database that does not report the keys (MySQL):
 * the keys of rows missing one, read back by the one conflict field,
 * 500 values a query. */
static tdo_status upsert_keys(tdo_conn *c, const tdo_model *m,
                              const tdo_field *const *fields, size_t k,
                              const tdo_value *vals, size_t n,
                              const tdo_upsert *u, tdo_value *pks,
                              tdo_error *err)
{
    const tdo_field *pkf = tdo_model_pk(m);
    size_t col = k;
    for (size_t j = 0; j < k; j++)
        if (fields[j] == u->on[0])
            col = j;
    if (!pkf || u->non != 1 || col == k)
        return TDO_OK;
    tdo_value *keys = tdo_calloc(n ? n : 1, sizeof(*keys));
    size_t *rows = tdo_calloc(n ? n : 1, sizeof(*rows));
    tdo_status st = keys && rows ? TDO_OK : tdo_nomem(err);
    size_t nk = 0;
    for (size_t r = 0; !st && r < n; r++)
        if (pks[r].type == TDO_NULL && vals[r * k + col].type != TDO_NULL) {
            keys[nk] = vals[r * k + col];
            rows[nk++] = r;
        }
    const char *names[2] = {u->on[0]->name, pkf->name};
    char key[256];
    snprintf(key, sizeof key, "%s__in", u->on[0]->name);
    for (size_t at = 0; !st && at < nk; at += 500) {
        size_t chunk = nk - at < 500 ? nk - at : 500;
        tdo_qnode *cond = tdo_q_lookup(key, keys + at, chunk);
        tdo_query *q0 = tdo_query_new((tdo_model *)m), *q1 = NULL, *q2 = NULL;
        tdo_rows *res = NULL;
        if (!cond || !q0)
            st = tdo_nomem(err);
        if (!st)
            st = tdo_query_filter(q0, cond, &q1, err);
        if (!st)
            st = tdo_query_values(q1, TDO_PROJ_VALUES_LIST, names, NULL, 2, &q2,
                                  err);
        if (!st)
            st = tdo_query_run(c, q2, &res, err);
        bool has = false;
        while (!st && !(st = tdo_rows_next(res, &has, err)) && has) {
            tdo_value on, pk;
            if ((st = tdo_rows_get(res, 0, &on, err)) ||
                (st = tdo_rows_get(res, 1, &pk, err)))
                break;
            for (size_t i = at; i < at + chunk && !st; i++)
                if (pks[rows[i]].type == TDO_NULL &&
                    tdo_value_cmp(&keys[i], &on) == 0 &&
                    tdo_value_copy(&pks[rows[i]], &pk))
                    st = tdo_nomem(err);
        }
        tdo_rows_free(res);
        tdo_query_free(q2);
        tdo_query_free(q1);
        tdo_query_free(q0);
        tdo_qnode_free(cond);
    }
    tdo_free(keys);
    tdo_free(rows);
    return st;
}

/* Inserts the rows of n objects as bulk_create (see testudo.h). */
tdo_status tdo_bulk_create(tdo_conn *c, const tdo_model *m,
                           const tdo_row_io *io, void *const *objs, size_t n,
                           const tdo_bulk_opts *o, tdo_error *err)
{
    static const tdo_bulk_opts plain;
    static const tdo_save_opts none;
    if (!o)
        o = &plain;
    if (n == 0)
        return TDO_OK;
    const tdo_field *pkf = tdo_model_pk(m);
    size_t pi = pkf ? field_index(m, pkf) : 0;
    size_t nf = m->nfields ? m->nfields : 1, k = 0;
    row_buf b;
    tdo_status st = row_buf_init(&b, m, err);
    const tdo_field **fields = tdo_calloc(nf, sizeof(*fields));
    tdo_value *vals = tdo_calloc(n * nf, sizeof(*vals));
    tdo_value *pks = tdo_calloc(n, sizeof(*pks));
    if (!st && (!fields || !vals || !pks))
        st = tdo_nomem(err);
    /* a generated key is left to the database for every row unless all
     * rows have one (the first without one ends the search) */
    bool skip_pk = false;
    if (!st && pkf && (pkf->flags & TDO_FIELD_GENERATED)) {
        want_key(m, b.want);
        for (size_t r = 0; !st && !skip_pk && r < n; r++) {
            row_buf_clear(&b);
            st = read_row(m, io, objs[r], &b, err);
            skip_pk = !b.given[pi] || b.in[pi].type == TDO_NULL;
        }
    }
    if (!st)
        want_fields(m, &none, true, b.want);
    tdo_datetime now;
    tdo_datetime_now(tdo_ctx_use_tz(m->ctx), &now);
    for (size_t r = 0; !st && r < n; r++) {
        row_buf_clear(&b);
        if ((st = read_row(m, io, objs[r], &b, err)) ||
            (st = prepare(m, &none, true, skip_pk, &now, &b, err)))
            break;
        if (r == 0) {
            k = b.n;
            memcpy(fields, b.fields, k * sizeof(*fields));
        } else if (b.n != k || memcmp(fields, b.fields, k * sizeof(*fields))) {
            st = tdo_error_set(err, TDO_ERR_PARAMS,
                               "bulk_create: objects differ in their fields");
            break;
        }
        for (size_t j = 0, i = 0; i < m->nfields; i++)
            if (b.written[i]) {
                vals[r * k + j++] = b.out[i]; /* moved */
                b.out[i] = tdo_value_null();
                b.written[i] = false;
            }
    }
    bool ignore = o->ignore_conflicts;
    const tdo_upsert *u = o->upsert && o->upsert->non ? o->upsert : NULL;
    if (!st)
        st = u ? tdo_insert_upsert(c, m, fields, k, vals, n, o->batch_size, u,
                                   pks, err)
               : tdo_insert_batches(c, m, fields, k, vals, n, o->batch_size,
                                    ignore, ignore ? NULL : pks, err);
    if (!st && u)
        st = upsert_keys(c, m, fields, k, vals, n, u, pks, err);
    /* each object: the row as written (its key) and marked inserted */
    for (size_t r = 0; !st && !ignore && r < n; r++) {
        row_buf_clear(&b);
        for (size_t j = 0, i = 0; i < m->nfields && j < k; i++)
            if (fields[j] == m->fields[i]) {
                b.out[i] = vals[r * k + j++];
                b.out[i].owned = false;
                b.written[i] = true;
            }
        if (pkf && (pks[r].type != TDO_NULL || skip_pk)) {
            b.out[pi] = pks[r];
            b.out[pi].owned = false;
            b.written[pi] = true;
        }
        st = io->write(objs[r], m, b.out, b.written, true, err);
        for (size_t i = 0; i < m->nfields; i++) {
            b.out[i] = tdo_value_null(); /* borrowed */
            b.written[i] = false;
        }
    }
    if (vals)
        for (size_t i = 0; i < n * k; i++)
            tdo_value_release(&vals[i]);
    if (pks)
        for (size_t r = 0; r < n; r++)
            tdo_value_release(&pks[r]);
    tdo_free(fields);
    tdo_free(vals);
    tdo_free(pks);
    row_buf_free(&b);
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
