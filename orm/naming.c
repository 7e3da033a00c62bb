/*
 * naming.c -- the names introspection gives (issue 11): a model's name
 * from its table (CamelCase, singular when the table name is a regular
 * English plural), a field's from its column (as written; a foreign key
 * drops a trailing "_id" or "Id"), a reverse relation's from the
 * referencing model (snake_case plural, "_by_<field>" when one table
 * references another more than once), and predictable answers to
 * clashes.  One shared step, so a C program, the shell and
 * `testudo db inspectdb` give the same names.
 */
#include "tdo_int.h"

#include <ctype.h>
#include <stdio.h>

/* strncasecmp over ASCII letters (the C library's follows the locale). */
static int ascii_ncasecmp(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int ca = tolower((unsigned char)a[i]),
            cb = tolower((unsigned char)b[i]);
        if (ca != cb || !ca)
            return ca - cb;
    }
    return 0;
}

static bool ends_with(const char *s, size_t len, const char *suffix)
{
    size_t n = strlen(suffix);
    return len >= n && ascii_ncasecmp(s + len - n, suffix, n) == 0;
}

/* The length of word (len bytes) once a regular English plural ending is
 * taken off ("categories" -> "category" needs a 'y': *y set), or len
 * when it is no regular plural: "-ies" -> "-y"; "-sses", "-xes", "-zes",
 * "-ches", "-shes" lose "es"; a final "s" goes unless after "s", "u" or
 * "i" ("address", "status", "analysis"). */
static size_t singular_len(const char *w, size_t len, bool *y)
{
    *y = false;
    if (len > 3 && ends_with(w, len, "ies")) {
        *y = true;
        return len - 3;
    }
    if (len > 4 && (ends_with(w, len, "sses") || ends_with(w, len, "ches") ||
                    ends_with(w, len, "shes")))
        return len - 2;
    if (len > 3 && (ends_with(w, len, "xes") || ends_with(w, len, "zes")))
        return len - 2;
    if (len > 1 && (w[len - 1] == 's' || w[len - 1] == 'S')) {
        char before = (char)tolower((unsigned char)w[len - 2]);
        if (before != 's' && before != 'u' && before != 'i')
            return len - 1;
    }
    return len;
}

/* Appends the words of table in CamelCase: split at '_', ' ' and '-',
 * each word's first letter upper-cased, the rest as written; singular:
 * the last word made singular. */
static void camel(tdo_sb *sb, const char *table, bool singular)
{
    size_t n = strlen(table);
    size_t last = 0; /* where the last word starts */
    for (size_t i = 0; i < n; i++)
        if (table[i] == '_' || table[i] == ' ' || table[i] == '-')
            last = i + 1;
    bool up = true;
    for (size_t i = 0; i < n; i++) {
        char c = table[i];
        if (c == '_' || c == ' ' || c == '-') {
            up = true;
            continue;
        }
        if (singular && i == last) {
            bool y;
            size_t keep = singular_len(table + i, n - i, &y);
            for (size_t k = 0; k < keep; k++, up = false)
                tdo_sb_addc(sb, up ? (char)toupper((unsigned char)table[i + k])
                                   : table[i + k]);
            if (y)
                tdo_sb_addc(sb,
                            isupper((unsigned char)table[n - 1]) ? 'Y' : 'y');
            return;
        }
        tdo_sb_addc(sb, up ? (char)toupper((unsigned char)c) : c);
        up = false;
    }
}

/* The model name of table (see the file comment); malloc'd, NULL on out
 * of memory. */
char *tdo_name_model(const char *table, bool singular)
{
    tdo_sb sb = TDO_SB_INIT;
    camel(&sb, table, singular);
    if (sb.len == 0)
        tdo_sb_adds(&sb, "Table");
    if (isdigit((unsigned char)sb.buf[0])) {
        tdo_sb t = TDO_SB_INIT;
        tdo_sb_addf(&t, "T%s", sb.buf);
        tdo_sb_release(&sb);
        sb = t;
    }
    return tdo_sb_detach(&sb);
}

/* The field name of a column: as written; a foreign key's drops a
 * trailing "_id" or "Id" (not the whole name); malloc'd. */
char *tdo_name_field(const char *column, bool fk)
{
    size_t n = strlen(column);
    if (fk && n > 3 && strcmp(column + n - 3, "_id") == 0)
        n -= 3;
    else if (fk && n > 2 && strcmp(column + n - 2, "Id") == 0)
        n -= 2;
    return tdo_strndup(column, n);
}

/* Appends the plural of the snake_case word w: "y" after a consonant ->
 * "ies"; "s", "x", "z", "ch", "sh" -> "es"; else "s". */
static void plural(tdo_sb *sb, const char *w, size_t len)
{
    char last = len ? w[len - 1] : 0;
    char before = len > 1 ? w[len - 2] : 0;
    if (last == 'y' && !strchr("aeiou", before)) {
        tdo_sb_add(sb, w, len - 1);
        tdo_sb_adds(sb, "ies");
    } else if (last == 's' || last == 'x' || last == 'z' ||
               (last == 'h' && (before == 'c' || before == 's'))) {
        tdo_sb_add(sb, w, len);
        tdo_sb_adds(sb, "es");
    } else {
        tdo_sb_add(sb, w, len);
        tdo_sb_addc(sb, 's');
    }
}

/* The reverse relation name for the model called model (CamelCase):
 * snake_case plural ("InvoiceLine" -> "invoice_lines"), with
 * "_by_<by_field>" when by_field is not NULL; malloc'd. */
char *tdo_name_reverse(const char *model, const char *by_field)
{
    tdo_sb snake = TDO_SB_INIT, sb = TDO_SB_INIT;
    for (size_t i = 0; model[i]; i++) {
        unsigned char c = (unsigned char)model[i];
        if (isupper(c) && i > 0 &&
            (islower((unsigned char)model[i - 1]) ||
             (model[i + 1] && islower((unsigned char)model[i + 1]) &&
              isupper((unsigned char)model[i - 1]))))
            tdo_sb_addc(&snake, '_');
        tdo_sb_addc(&snake, (char)tolower(c));
    }
    plural(&sb, snake.buf, snake.len);
    if (by_field)
        tdo_sb_addf(&sb, "_by_%s", by_field);
    if (snake.oom)
        sb.oom = true;
    tdo_sb_release(&snake);
    return tdo_sb_detach(&sb);
}

/* Whether names[i] equals one of names[0..upto) other than i. */
static bool taken(char *const *names, size_t upto, size_t i)
{
    for (size_t j = 0; j < upto; j++)
        if (j != i && strcmp(names[i], names[j]) == 0)
            return true;
    return false;
}

/* Names the models of n tables (see tdo_int.h). */
tdo_status tdo_name_models(const char *const *tables, size_t n, char **names,
                           tdo_error *err)
{
    memset(names, 0, n * sizeof(*names));
    bool *clash = tdo_calloc(n ? n : 1, sizeof(*clash));
    bool ok = clash != NULL;
    for (size_t i = 0; ok && i < n; i++)
        ok = (names[i] = tdo_name_model(tables[i], true)) != NULL;
    /* tables whose singular names clash keep their names as written */
    for (size_t i = 0; ok && i < n; i++)
        clash[i] = taken(names, n, i);
    for (size_t i = 0; ok && i < n; i++) {
        if (!clash[i])
            continue;
        tdo_free(names[i]);
        ok = (names[i] = tdo_name_model(tables[i], false)) != NULL;
    }
    /* still the same: "_2", "_3" ... in table order */
    for (size_t i = 0; ok && i < n; i++) {
        char *base = names[i];
        for (int k = 2; ok && taken(names, i, i); k++) {
            tdo_sb sb = TDO_SB_INIT;
            tdo_sb_addf(&sb, "%s_%d", base, k);
            char *s = tdo_sb_detach(&sb);
            ok = s != NULL;
            if (names[i] != base)
                tdo_free(names[i]);
            names[i] = s ? s : base;
        }
        if (names[i] != base)
            tdo_free(base);
    }
    tdo_free(clash);
    if (ok)
        return TDO_OK;
    for (size_t i = 0; i < n; i++) {
        tdo_free(names[i]);
        names[i] = NULL;
    }
    return tdo_nomem(err);
}
