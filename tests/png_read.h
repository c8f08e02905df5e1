/* Reading a PNG back in the tests (test_checkpoint.c, test_training_cifar.c):
 * the whole image through libpng's simplified reader, in the file's own
 * format (GRAY, RGB, ...); free px when done. */
#ifndef PNG_READ_H
#define PNG_READ_H

#include <png.h>
#include <stdlib.h>
#include <string.h>

#include "tg_test.h"

typedef struct png_read {
  png_image img;
  unsigned char *px;
} png_read;

static inline void read_png(const char *path, png_read *out) {
  memset(out, 0, sizeof *out);
  out->img.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_file(&out->img, path)) fail_msg("%s: %s", path, out->img.message);
  out->px = malloc(PNG_IMAGE_SIZE(out->img));
  assert_non_null(out->px);
  assert_int_not_equal(png_image_finish_read(&out->img, NULL, out->px, 0, NULL), 0);
}

#endif
