/* Implements part of tests/native/gen_sample.h, for calls through the module nativeffi gen writes for it. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include "gen_sample.h"

int gs_counter = 7;
const char *const gs_greeting = "hello";
struct gs_point gs_origin = {1.5, -2.5};

int gs_add(int a, int b) { return a + b; }
long double gs_long_double(long double x) { return x / 3; }
gs_ulong gs_strlen(const char *s) { return strlen(s); }
size_t gs_count(const struct gs_list *list) { return list->count; }
int gs_sort(int *values, size_t n, gs_compare compare) { qsort(values, n, sizeof *values, compare); return 0; }
struct gs_point gs_mid(struct gs_point a, struct gs_point b) {
    struct gs_point m = {(a.x + b.x) / 2, (a.y + b.y) / 2};
    return m;
}
enum gs_color gs_next_color(enum gs_color c) { return c == GS_RED ? GS_GREEN : GS_BLUE; }
int gs_keywords(int lambda, int from, int pass) { return lambda * 100 + from * 10 + pass; }
int gs_sum(int n, ...) {
    va_list ap;
    int total = 0;
    va_start(ap, n);
    for (int i = 0; i < n; i++) total += va_arg(ap, int);
    va_end(ap);
    return total;
}
int gs_call_self(struct gs_callbacks *cb, int x) { return cb->self_cb(cb, x); }
int gs_tree_sum(gs_tree_p t) { return t ? t->key + gs_tree_sum(t->left) + gs_tree_sum(t->right) : 0; }
union gs_value gs_as_float(float f) { union gs_value v; v.f = f; return v; }
gs_size_class gs_classify(int n) { return n < 0 ? GS_SMALL : GS_LARGE; }
int gs_array_param(int values[4]) { return values[0] + values[3]; }
