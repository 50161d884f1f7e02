/* Test helpers for native finalizers: a counting and logging finalizer, one that appends to a file (for exit
   checks), one that records whether the GIL was held, and sqlite3_close with its result code counted. */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define LOG_MAX 65536

static long calls;                 /* fin_count calls since fin_reset */
static uintptr_t token_sum;        /* sum of their tokens */
static uintptr_t log_[LOG_MAX];    /* their tokens in call order (the first LOG_MAX) */
static int gil_seen = -2;          /* PyGILState_Check() in the last fin_gil call; -1: not found */
static long sqlite_ok, sqlite_other; /* sqlite3_close results: SQLITE_OK, anything else */

void fin_reset(void) { calls = 0; token_sum = 0; gil_seen = -2; sqlite_ok = sqlite_other = 0; }
long fin_calls(void) { return calls; }
uintptr_t fin_token_sum(void) { return token_sum; }
uintptr_t fin_log(long i) { return i >= 0 && i < calls && i < LOG_MAX ? log_[i] : 0; }
int fin_gil_seen(void) { return gil_seen; }
long fin_sqlite_ok(void) { return sqlite_ok; }
long fin_sqlite_other(void) { return sqlite_other; }

/* A finalizer: counts its call and logs the token. */
void fin_count(void *token)
{
    if (calls < LOG_MAX)
        log_[calls] = (uintptr_t)token;
    calls++;
    token_sum += (uintptr_t)token;
}

/* A finalizer whose token is "path\tline": appends line and a newline to the file at path (the side effect a
   parent process checks after the child has exited). */
void fin_append(void *token)
{
    char path[4096];
    const char *s = token, *tab = strchr(s, '\t');
    if (!tab || (size_t)(tab - s) >= sizeof path)
        return;
    memcpy(path, s, (size_t)(tab - s));
    path[tab - s] = 0;
    FILE *f = fopen(path, "a");
    if (f) {
        fprintf(f, "%s\n", tab + 1);
        fclose(f);
    }
}

/* A finalizer that records whether the calling thread holds the GIL (PyGILState_Check, found in the process). */
void fin_gil(void *token)
{
    int (*check)(void) = (int (*)(void))dlsym(RTLD_DEFAULT, "PyGILState_Check");
    gil_seen = check ? check() : -1;
    fin_count(token);
}

/* A finalizer for SQLite connections: sqlite3_close(db), its result counted (0 is SQLITE_OK). */
int fin_sqlite_close(void *db)
{
    void *lib = dlopen("libsqlite3.so.0", RTLD_NOW | RTLD_NOLOAD);
    int (*close_)(void *) = lib ? (int (*)(void *))dlsym(lib, "sqlite3_close") : NULL;
    int rc = close_ ? close_(db) : -1;
    if (rc == 0)
        sqlite_ok++;
    else
        sqlite_other++;
    return rc;
}
