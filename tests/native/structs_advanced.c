/* Test helper for tests/test_pointer_slices.py, tests/test_struct_values.py and tests/test_structs_advanced.py:
   strided sums, and the structs of the advanced-struct features (inheritance, anonymous members, byte order,
   flexible array members, text in char arrays) as the C compiler lays them out and fills them. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <wchar.h>

/* -- Slices ------------------------------------------------------------------------ */

/* The sum of p[start], p[start + step], ... while before stop (after it for a negative step): Python's p[a:b:k]. */
int64_t sum_strided(const int64_t *p, ptrdiff_t start, ptrdiff_t stop, ptrdiff_t step)
{
    int64_t s = 0;
    for (ptrdiff_t i = start; step > 0 ? i < stop : i > stop; i += step)
        s += p[i];
    return s;
}

/* Writes i * i to p[i] for i in [from, to): indices may be negative (memory before p). */
void squares_range(int64_t *p, ptrdiff_t from, ptrdiff_t to)
{
    for (ptrdiff_t i = from; i < to; i++)
        p[i] = (int64_t)(i * i);
}

/* -- Inheritance: a derived struct is the base as its first member, then its own fields ------------------ */

struct B { int64_t a; int8_t b; };                    /* 7 bytes of tail padding the derived fields must not use */
struct D { struct B base; int8_t c; };
struct D3 { struct D base; int16_t e; };              /* derived twice */
struct B2 { int32_t a; char b; };
struct D2 { struct B2 base; char c[4]; double d; };   /* same size as if flattened, other offsets */
struct BB { uint32_t x : 3; };
struct DB { struct BB base; uint8_t y : 2; };         /* bit fields do not continue into the base's unit */
#pragma pack(1)
struct DP { struct B base; int32_t c; };              /* packed derived: the base keeps its own layout */
#pragma pack()

const size_t d_layout[] = {sizeof(struct D), _Alignof(struct D), offsetof(struct D, c)};
const size_t d3_layout[] = {sizeof(struct D3), _Alignof(struct D3), offsetof(struct D3, e)};
const size_t d2_layout[] = {sizeof(struct D2), _Alignof(struct D2), offsetof(struct D2, c), offsetof(struct D2, d)};
const size_t db_layout[] = {sizeof(struct DB), _Alignof(struct DB), 0};
const size_t dp_layout[] = {sizeof(struct DP), _Alignof(struct DP), offsetof(struct DP, c)};

/* Fills a D2 from C: a = 1, b = 'x', c = "abc", d = 2.5. */
void d2_fill(struct D2 *p) { p->base.a = 1; p->base.b = 'x'; memcpy(p->c, "abc", 4); p->d = 2.5; }
int64_t d3_sum(struct D3 v) { return v.base.base.a + v.base.base.b + v.base.c + v.e; }
uint32_t db_bits(const struct DB *p) { return p->base.x * 10u + p->y; }

/* -- Anonymous members: fields read through the parent ------------------------------------------------- */

struct V {
    int32_t kind;
    union {                                     /* anonymous union */
        int32_t i;
        double d;
        struct { uint8_t lo, hi; };             /* anonymous struct inside it */
    };
    struct { uint16_t a : 4; uint16_t b : 12; };   /* anonymous struct of bit fields */
};

const size_t v_layout[] = {sizeof(struct V), _Alignof(struct V), offsetof(struct V, i), offsetof(struct V, d),
                           offsetof(struct V, lo), offsetof(struct V, hi)};

void v_fill(struct V *v) { v->kind = 7; v->lo = 0x34; v->hi = 0x12; v->a = 9; v->b = 1000; }
double v_read(const struct V *v) { return v->kind == 2 ? v->d : v->i + v->a * 0.5 + v->b; }

/* -- Byte order: a wire header in network (big-endian) order, as C writes it with htons/htonl -------------- */

#include <arpa/inet.h>

#pragma pack(1)
struct Wire { uint16_t port; uint32_t addr; uint8_t ttl; uint16_t words[3]; int64_t big; double ratio; };
#pragma pack()
struct WireAligned { uint16_t port; uint32_t addr; uint8_t ttl; uint16_t words[3]; int64_t big; double ratio; };

static uint64_t bswap_double(double d) { uint64_t u; memcpy(&u, &d, 8); return __builtin_bswap64(u); }

#define WIRE_FILL(T, name) \
    void name(struct T *w) { \
        uint64_t r = bswap_double(-1.25); \
        w->port = htons(0x1234); w->addr = htonl(0xC0A80001u); w->ttl = 64; \
        for (int i = 0; i < 3; i++) w->words[i] = htons((uint16_t)(0x0100 * (i + 1) + 0x0A)); \
        w->big = (int64_t)__builtin_bswap64((uint64_t)-2); memcpy(&w->ratio, &r, 8); \
    } \
    int name##_check(const struct T *w) { \
        uint64_t r; memcpy(&r, &w->ratio, 8); r = __builtin_bswap64(r); double d; memcpy(&d, &r, 8); \
        int ok = ntohs(w->port) == 0x1234 && ntohl(w->addr) == 0xC0A80001u && w->ttl == 64 && d == -1.25 && \
                 (int64_t)__builtin_bswap64((uint64_t)w->big) == -2; \
        for (int i = 0; i < 3; i++) ok &= ntohs(w->words[i]) == 0x0100 * (i + 1) + 0x0A; \
        return ok; \
    }
WIRE_FILL(Wire, wire_fill)
WIRE_FILL(WireAligned, wire_aligned_fill)

const size_t wire_layout[] = {sizeof(struct Wire), _Alignof(struct Wire), offsetof(struct Wire, ratio)};
const size_t wire_aligned_layout[] = {sizeof(struct WireAligned), _Alignof(struct WireAligned),
                                      offsetof(struct WireAligned, ratio)};

/* -- Flexible array members -------------------------------------------------------------------------------- */

struct FA { int32_t n; double values[]; };            /* padding before the array: it is aligned as double */
struct FB { int64_t a; char c; char tail[]; };        /* the array starts inside the tail padding */
struct FC { char c; int32_t v[]; };                   /* the array raises the struct's alignment */
#pragma pack(1)
struct FP { char c; int32_t v[]; };                   /* packed: no padding at all */
#pragma pack()
struct FD { struct B base; int16_t values[]; };       /* a derived struct may end in one */

const size_t fa_layout[] = {sizeof(struct FA), _Alignof(struct FA), offsetof(struct FA, values)};
const size_t fb_layout[] = {sizeof(struct FB), _Alignof(struct FB), offsetof(struct FB, tail)};
const size_t fc_layout[] = {sizeof(struct FC), _Alignof(struct FC), offsetof(struct FC, v)};
const size_t fp_layout[] = {sizeof(struct FP), _Alignof(struct FP), offsetof(struct FP, v)};
const size_t fd_layout[] = {sizeof(struct FD), _Alignof(struct FD), offsetof(struct FD, values)};

double fa_sum(const struct FA *s)
{
    double t = 0;
    for (int32_t i = 0; i < s->n; i++)
        t += s->values[i];
    return t;
}

/* Writes n values i * 1.5 into a struct FA allocated by the caller with room for them. */
void fa_fill(struct FA *s, int32_t n)
{
    s->n = n;
    for (int32_t i = 0; i < n; i++)
        s->values[i] = i * 1.5;
}

/* -- Text in char and wchar_t arrays, nested initialisers ------------------------------------------------------ */

struct Named { char name[8]; wchar_t wname[4]; int32_t id; };
struct Inner { int32_t a; double b; };
struct Outer { struct Inner in[2]; int32_t grid[2][2]; struct Named who; };

void named_fill(struct Named *n) { memset(n, 0, sizeof *n); strcpy(n->name, "héllo"); wcscpy(n->wname, L"w€"); n->id = 3; }

/* 1 if n holds `name` NUL-padded to 8 bytes (all 8 compared: no garbage after the text) and `wname`. */
int named_check(const struct Named *n, const char *name, const wchar_t *wname)
{
    char want[8] = {0};
    wchar_t wwant[4] = {0};
    strncpy(want, name, 8);
    wcsncpy(wwant, wname, 4);
    return memcmp(n->name, want, 8) == 0 && memcmp(n->wname, wwant, sizeof wwant) == 0;
}

double outer_sum(const struct Outer *o)
{
    return o->in[0].a + o->in[0].b + o->in[1].a + o->in[1].b + o->grid[0][0] + o->grid[0][1] * 10 +
           o->grid[1][0] * 100 + o->grid[1][1] * 1000 + o->who.id;
}

size_t c_wcslen(const wchar_t *s) { return wcslen(s); }
const wchar_t *wgreeting(void) { return L"héllo €"; }
