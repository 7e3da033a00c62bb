/*
 * ctx.c -- the context handle: the model registry and the connections
 * hang off it.  Connections themselves live in conn.c (URLs in url.c,
 * running statements in exec.c), models in model.c.
 */
#include "tdo_int.h"

/* Returns a new, empty context or NULL on out of memory; free with
 * tdo_ctx_free(). */
tdo_ctx *tdo_ctx_new(void)
{
    tdo_ctx *ctx = tdo_calloc(1, sizeof(*ctx));
    return ctx;
}

/* Closes the connections of ctx, frees every model (live and detached)
 * and ctx itself; NULL is fine. */
void tdo_ctx_free(tdo_ctx *ctx)
{
    if (!ctx)
        return;
    tdo_close_connections(ctx);
    for (size_t i = 0; i < ctx->nmodels; i++)
        tdo_model_free_(ctx->models[i]);
    for (size_t i = 0; i < ctx->ndetached; i++)
        tdo_model_free_(ctx->detached[i]);
    tdo_free(ctx->models);
    tdo_free(ctx->detached);
    tdo_free(ctx->conns);
    tdo_free(ctx);
}

/* Sets whether datetimes are stored in UTC and returned aware. */
void tdo_ctx_set_use_tz(tdo_ctx *ctx, bool use_tz)
{
    ctx->use_tz = use_tz;
}

/* Returns the use_tz setting of ctx. */
bool tdo_ctx_use_tz(const tdo_ctx *ctx)
{
    return ctx->use_tz;
}

/* Returns the number of live models of ctx (abstract ones included). */
size_t tdo_ctx_nmodels(const tdo_ctx *ctx)
{
    return ctx->nmodels;
}

/* Returns the i-th live model in creation order, or NULL past the end;
 * the model belongs to ctx. */
tdo_model *tdo_ctx_model_at(const tdo_ctx *ctx, size_t i)
{
    return i < ctx->nmodels ? ctx->models[i] : NULL;
}

/* Finds the live model app.name (app NULL: the first model of that name in
 * any app); NULL if none.  The model belongs to ctx. */
tdo_model *tdo_ctx_model(const tdo_ctx *ctx, const char *app, const char *name)
{
    if (!name)
        return NULL;
    for (size_t i = 0; i < ctx->nmodels; i++) {
        tdo_model *m = ctx->models[i];
        if (strcmp(m->name, name) == 0 && (!app || strcmp(m->app, app) == 0))
            return m;
    }
    return NULL;
}
