/* Test helper for tests/test_compound.py: the structs of the compound-types issue, seen from C. */
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* -- Declarations (mirrored in Python by the tests) -------------------------- */

struct Coord { double x; double y; struct Coord *next; };
#pragma pack(1)
struct Packed { uint8_t a; int32_t b; };
#pragma pack()
union Num { int32_t i; double d; };
struct Grid { int32_t cells[3][3]; };
struct Flags { uint8_t ready : 1; uint8_t mode : 3; int8_t level : 4; };
struct Outer { uint8_t tag; struct Coord c; union Num n[2]; };

/* -- Layouts as the compiler sees them: {sizeof, alignof, offsets...} ---------- */

const size_t coord_layout[] = {sizeof(struct Coord), _Alignof(struct Coord), offsetof(struct Coord, y),
                               offsetof(struct Coord, next)};
const size_t packed_layout[] = {sizeof(struct Packed), _Alignof(struct Packed), offsetof(struct Packed, b)};
const size_t num_layout[] = {sizeof(union Num), _Alignof(union Num)};
const size_t grid_layout[] = {sizeof(struct Grid), _Alignof(struct Grid)};
const size_t flags_layout[] = {sizeof(struct Flags), _Alignof(struct Flags)};
const size_t outer_layout[] = {sizeof(struct Outer), _Alignof(struct Outer), offsetof(struct Outer, c),
                               offsetof(struct Outer, n)};
const size_t tm_layout[] = {sizeof(struct tm), _Alignof(struct tm), offsetof(struct tm, tm_isdst),
                            offsetof(struct tm, tm_gmtoff), offsetof(struct tm, tm_zone)};
const size_t timespec_layout[] = {sizeof(struct timespec), _Alignof(struct timespec), offsetof(struct timespec, tv_nsec)};

/* -- Functions ------------------------------------------------------------------ */

double coord_sum_list(const struct Coord *c)
{
    double s = 0;
    for (; c; c = c->next)
        s += c->x + c->y;
    return s;
}

struct Coord coord_scale(struct Coord c, double k)
{
    c.x *= k;
    c.y *= k;
    return c;
}

int32_t packed_b(struct Packed p) { return p.b + p.a; }
struct Packed packed_make(uint8_t a, int32_t b) { struct Packed p = {a, b}; return p; }

double num_as_double(union Num n) { return n.d; }
union Num num_from_int(int32_t i) { union Num n = {0}; n.i = i; return n; }

int32_t grid_trace(struct Grid g) { return g.cells[0][0] + g.cells[1][1] + g.cells[2][2]; }
void grid_fill(struct Grid *g)
{
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            g->cells[i][j] = 10 * i + j;
}

uint8_t flags_byte(struct Flags f) { return *(uint8_t *)&f; }
int flags_level(struct Flags f) { return f.level; }
struct Flags flags_make(int ready, int mode, int level) { struct Flags f = {ready, mode, level}; return f; }

double outer_check(struct Outer o) { return o.tag + o.c.x + o.c.y + o.n[0].i + o.n[1].d; }

/* -- Globals (Dart's globalStruct, globalArray, identity3x3) ----------------------- */

struct Coord global_coord = {1.5, 2.5, NULL};
int32_t global_array[3] = {1, 2, 3};
double identity3x3[3][3] = {{1, 0, 0}, {0, 1, 0}, {0, 0, 1}};
double global_coord_sum(void) { return global_coord.x + global_coord.y; }
int32_t global_array_sum(void) { return global_array[0] + global_array[1] + global_array[2]; }
double identity_trace(void) { return identity3x3[0][0] + identity3x3[1][1] + identity3x3[2][2]; }

/* -- Callbacks taking and returning compounds by value --------------------------------- */

double call_with_coord(double (*cb)(struct Coord), double x) { struct Coord c = {x, 2 * x, NULL}; return cb(c); }
int32_t call_with_packed(int32_t (*cb)(struct Packed)) { struct Packed p = {3, -40}; return cb(p); }
double call_for_num(union Num (*cb)(int32_t)) { union Num n = cb(5); return n.i; }
