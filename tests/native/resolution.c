/* Exported and unexported names for the resolution-error tests: what the ELF reader must list, and what it must not. */
int resolution_counter = 7;                                              /* an exported variable */
int resolution_compute(int x) { return 3 * x + 1; }                     /* an exported function */
__attribute__((weak)) int resolution_weak(void) { return 1; }          /* a weak definition: exported */
__attribute__((visibility("hidden"))) int resolution_hidden(void) { return 2; }  /* defined, not exported */
static int resolution_static(void) { return 3; }                      /* internal: not exported */
int resolution_uses_static(void) { return resolution_static() + resolution_hidden(); }
#include <string.h>
size_t resolution_length(const char *s) { return strlen(s); }         /* strlen: referenced (undefined) here */
#define resolution_macro() resolution_compute(0)                      /* a macro: no library exports it */
