/* Compiled, never run (tests/meson.build: gnu89, c99 and c11 -pedantic with
 * -Werror): the public headers must parse in each dialect a user may pick. */
#include "tapegrad.h"

int tg_header_check(void);
int tg_header_check(void) { return tg_scope_depth(); }
