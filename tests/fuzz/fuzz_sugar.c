/*
 * fuzz_sugar.c -- libFuzzer harness: the shell's source rewriting (the
 * `:name<...>` sugar, explicit nil arguments, REPL locals).
 * Invariants: no crash or sanitizer report; the sugar keeps the length
 * and every newline of its input.
 */
#include <stdint.h>

#include "../../shell/sugar.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *src = (const char *)data;
    size_t n = 0;
    char *out = shell_sugar_translate(src, size, &n);
    if (out != NULL) {
        if (n != size)
            abort();
        for (size_t i = 0; i < size; i++)
            if ((src[i] == '\n') != (out[i] == '\n'))
                abort();
    }
    free(out);
    out = shell_sugar_rewrite(src, size, &n);
    free(out);
    out = shell_sugar_locals(src, size, &n);
    free(out);
    return 0;
}
