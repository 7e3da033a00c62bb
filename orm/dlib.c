/*
 * dlib.c -- loads a database client library (libpq, libmariadb) the first
 * time a session of its backend is opened, so that a program that only
 * uses SQLite never maps the server drivers (and what they bring in: TLS,
 * Kerberos, LDAP).  The backends call the library through the function
 * table this fills.
 */
#include "tdo_int.h"

#include <dlfcn.h>
#include <pthread.h>

static pthread_mutex_t dl_lock = PTHREAD_MUTEX_INITIALIZER;

tdo_status tdo_dlib_load(tdo_dlib *lib, tdo_error *err)
{
    if (__atomic_load_n(&lib->loaded, __ATOMIC_ACQUIRE))
        return TDO_OK;
    pthread_mutex_lock(&dl_lock);
    tdo_status st = TDO_OK;
    if (!lib->loaded) {
        void *h = dlopen(lib->soname, RTLD_NOW | RTLD_LOCAL);
        const char *missing = NULL;
        for (size_t i = 0; h && i < lib->n; i++) {
            lib->fns[i] = dlsym(h, lib->names[i]);
            if (!lib->fns[i] && !missing)
                missing = lib->names[i];
        }
        if (!h)
            st = tdo_error_set(err, TDO_ERR_OPERATIONAL,
                               "%s needs %s, which cannot be loaded (%s): "
                               "install the %s package",
                               lib->what, lib->soname, dlerror(), lib->package);
        else if (missing) {
            st = tdo_error_set(err, TDO_ERR_OPERATIONAL,
                               "%s: %s has no function %s (too old a "
                               "version?)",
                               lib->what, lib->soname, missing);
            dlclose(h);
        } else
            __atomic_store_n(&lib->loaded, true, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&dl_lock);
    return st;
}
