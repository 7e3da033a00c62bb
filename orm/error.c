/*
 * error.c -- status names and the caller-owned tdo_error.
 */
#include "tdo_int.h"

static const char *const status_names[TDO_STATUS_COUNT] = {
    [TDO_OK] = "OK",
    [TDO_ERR_BASE] = "BaseORMException",
    [TDO_ERR_CONFIGURATION] = "ConfigurationError",
    [TDO_ERR_FIELD] = "FieldError",
    [TDO_ERR_PARAMS] = "ParamsError",
    [TDO_ERR_OPERATIONAL] = "OperationalError",
    [TDO_ERR_INTEGRITY] = "IntegrityError",
    [TDO_ERR_TRANSACTION] = "TransactionManagementError",
    [TDO_ERR_DOES_NOT_EXIST] = "DoesNotExist",
    [TDO_ERR_MULTIPLE_OBJECTS] = "MultipleObjectsReturned",
    [TDO_ERR_VALIDATION] = "ValidationError",
    [TDO_ERR_INCOMPLETE_INSTANCE] = "IncompleteInstanceError",
    [TDO_ERR_NO_VALUES_FETCHED] = "NoValuesFetched",
    [TDO_ERR_NOMEM] = "OperationalError",
    [TDO_ERR_INTERRUPTED] = "OperationalError",
};

/* Returns the exception class name of a status; static.  An unknown code
 * gives "BaseORMException". */
TDO_API const char *tdo_status_name(tdo_status code)
{
    if ((int)code < 0 || code >= TDO_STATUS_COUNT)
        return status_names[TDO_ERR_BASE];
    return status_names[code];
}

/* Sets err to "out of memory" (NOMEM); returns TDO_ERR_NOMEM. */
tdo_status tdo_nomem(tdo_error *err)
{
    return tdo_error_set(err, TDO_ERR_NOMEM, "out of memory");
}

/* Sets up an empty error. */
TDO_API void tdo_error_init(tdo_error *err)
{
    err->code = TDO_OK;
    memset(err->sqlstate, 0, sizeof(err->sqlstate));
    err->driver_code = 0;
    err->message = NULL;
    err->sql = NULL;
}

/* Frees the error's strings and empties it. */
TDO_API void tdo_error_release(tdo_error *err)
{
    if (!err)
        return;
    tdo_free(err->message);
    tdo_free(err->sql);
    tdo_error_init(err);
}

/* Records code and a printf-style message (replacing any earlier message;
 * sqlstate, driver_code and sql are left as they are) and returns code.
 * The arguments may refer to err->message itself.  err may be NULL.  Out
 * of memory leaves message NULL but keeps the code. */
TDO_API tdo_status tdo_error_vset(tdo_error *err, tdo_status code,
                                  const char *fmt, va_list ap)
{
    tdo_sb sb = TDO_SB_INIT;

    if (!err)
        return code;
    tdo_sb_vaddf(&sb, fmt, ap);
    tdo_free(err->message);
    err->message = tdo_sb_detach(&sb);
    err->code = code;
    return code;
}

/* Like tdo_error_vset() with variadic arguments. */
TDO_API tdo_status tdo_error_set(tdo_error *err, tdo_status code,
                                 const char *fmt, ...)
{
    va_list ap;

    if (!err)
        return code;
    va_start(ap, fmt);
    tdo_error_vset(err, code, fmt, ap);
    va_end(ap);
    return code;
}

/* Attaches a copy of sql to err (replacing any earlier one; NULL removes
 * it).  Out of memory leaves no SQL attached. */
TDO_API void tdo_error_set_sql(tdo_error *err, const char *sql)
{
    char *copy;

    if (!err)
        return;
    copy = tdo_strdup(sql);
    tdo_free(err->sql);
    err->sql = copy;
}
