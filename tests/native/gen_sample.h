/* Test header for nativeffi gen: one of every construct the generator handles or skips. */
#ifndef GEN_SAMPLE_H
#define GEN_SAMPLE_H
#include <stddef.h>
#include <stdint.h>
#include <stdarg.h>

#define GS_VERSION 3
#define GS_MASK (1u << 31)
#define GS_NEG (-42)
#define GS_BIG 0xFFFFFFFFFFFFFFFFull
#define GS_RATIO 0.25
#define GS_NAME "gen sample"
#define GS_EXPR (GS_VERSION * 2 + 1)
#define GS_SQUARE(x) ((x) * (x))
#define GS_EMPTY
#define GS_TYPE unsigned long
#define GS_ALIAS gs_add
#define GS_NOWHERE ((void *)-1)

typedef unsigned long gs_ulong;
typedef gs_ulong gs_size2;
typedef int32_t gs_i32;
typedef int gs_vec3[3];

/** A 2-D point. */
struct gs_point {
    double x; /**< across */
    double y;
};

typedef struct gs_point gs_point_t;

/** Every kind of field. */
typedef struct {
    int8_t tag;
    struct gs_point where;           /* nested struct by value */
    int grid[2][3];                  /* multi-dimensional array */
    union {                          /* anonymous member */
        int64_t i;
        double d;
    };
    struct { char lo, hi; } pair;    /* member of an unnamed struct type */
    unsigned flags : 3;              /* bit fields */
    signed level : 5;
    int : 0;
    _Bool on : 1;
    const char *name;
    void *user;
} gs_record;

/** A value that is one of several things. */
union gs_value {
    int32_t i;
    float f;
    unsigned char bytes[8];
};

struct gs_packed {
    char c;
    int32_t i;
    int16_t s;
} __attribute__((packed));

#pragma pack(push, 2)
struct gs_pragma {
    char c;
    int64_t i;
};
#pragma pack(pop)

struct gs_node;                      /* mutual references */
struct gs_list {
    struct gs_node *head;
    size_t count;
};
struct gs_node {
    struct gs_node *next;            /* self reference */
    struct gs_list *owner;
    int value;
};

typedef struct gs_opaque gs_opaque;  /* only declared */

/** Colors. */
enum gs_color { GS_RED, GS_GREEN = 5, GS_BLUE };
typedef enum { GS_SMALL = -1, GS_LARGE = 1000 } gs_size_class;
enum { GS_ANON_A = 7, GS_ANON_B };

/** Compares two ints. */
typedef int (*gs_compare)(const void *a, const void *b);
typedef void gs_visit_fn(struct gs_node *node, void *user);

struct gs_callbacks {
    gs_compare compare;
    gs_visit_fn *visit;
    int (*inline_cb)(int);
    int (*self_cb)(struct gs_callbacks *self, int x);  /* a function pointer taking its own struct */
};

typedef struct gs_tree *gs_tree_p;   /* a pointer typedef used inside the struct it points to */
struct gs_tree {
    gs_tree_p left, right;
    int key;
};

/** Calls cb->self_cb(cb, x). */
int gs_call_self(struct gs_callbacks *cb, int x);
int gs_tree_sum(gs_tree_p t);

/** Adds two ints. */
int gs_add(int a, int b);
gs_ulong gs_strlen(const char *s);
size_t gs_count(const struct gs_list *list);
int gs_sort(int *values, size_t n, gs_compare compare);
void gs_walk(struct gs_list *list, gs_visit_fn *visit, void *user);
struct gs_point gs_mid(struct gs_point a, struct gs_point b);
union gs_value gs_as_float(float f);
enum gs_color gs_next_color(enum gs_color c);
gs_size_class gs_classify(int n);
int gs_keywords(int lambda, int from, int pass);
int gs_unnamed(int, double);
gs_opaque *gs_open(const char *path);
void gs_close(gs_opaque *h);
int gs_sum(int n, ...);
int gs_format(char *buf, size_t n, const char *fmt, ...);
int gs_vformat(char *buf, size_t n, const char *fmt, va_list ap);
long double gs_long_double(long double x);
__int128 gs_wide(void);
typedef float gs_vec4 __attribute__((vector_size(16)));
gs_vec4 gs_vector(void);
static inline int gs_inline(int x) { return x + 1; }
int gs_array_param(int values[4]);

struct gs_flex {
    size_t n;
    int data[];
};

typedef int gs_aligned_int __attribute__((aligned(8)));
struct gs_overaligned_field {
    char c;
    gs_aligned_int i;
};

struct gs_aligned {
    char c;
} __attribute__((aligned(16)));

extern int gs_counter;
extern const char *const gs_greeting;
extern struct gs_point gs_origin;

#endif
