/* data layer public API */
#ifndef TG_DATA_H
#define TG_DATA_H

#include "tg_nn.h"
#include "tg_ops.h"
#include "tg_optim.h"

/* ======================================================================
 * Datasets, the DataLoader, file readers and transforms
 * (data/dataset.c, loader.c, io.c, idx.c, cifar.c, csv.c, transforms.c).
 * Functions returning int give 0, or -1 with a message in tg_last_error()
 * that names the file, the byte offset (or line and column) and what was
 * expected. Datasets and loaders are persistent: free them by hand.
 * ====================================================================== */

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A dataset: `length` samples, each `sample_numel` floats of shape `shape`
 * and (when has_labels) one int64 class label. Anything can implement it:
 * fill the fields, point fetch and destroy at your functions. */
typedef struct tg_dataset tg_dataset;
struct tg_dataset {
  size_t length;
  int ndim;                  /* sample dims: 3 for [1,28,28] */
  size_t shape[TG_MAX_DIMS]; /* sample shape, after the dataset's transforms */
  size_t sample_numel;       /* product of shape */
  bool has_labels;
  int64_t num_classes; /* largest label + 1 (0 without labels) */
  /* write sample i (i < length) into x_out (sample_numel floats) and its
   * label into *y_out (y_out may be NULL); 0, or -1 after tg_dataset_error */
  int (*fetch)(tg_dataset *ds, size_t i, float *x_out, int64_t *y_out);
  void (*destroy)(tg_dataset *ds); /* frees ds and everything it owns */
  void *impl;                      /* the implementation's state */
};

/* for fetch implementations: records the message (printf-style) as
 * tg_last_error() and returns -1 */
TG_API int tg_dataset_error(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;
/* bounds-checked ds->fetch */
TG_API int tg_dataset_get(tg_dataset *ds, size_t i, float *x_out, int64_t *y_out);
/* sample i as a new tensor of the sample shape (current scope); label in *y */
TG_API tg_tensor *tg_dataset_tensor(tg_dataset *ds, size_t i, int64_t *y);
TG_API void tg_dataset_free(tg_dataset *ds); /* NULL is fine */

/* In-memory datasets. Copies n samples of sample shape (ndim, shape):
 * bytes are kept as bytes and scaled to [0,1] at fetch (1 byte per pixel
 * in memory, not 4); floats are returned as they are. labels: n entries
 * >= 0, or NULL for an unlabelled dataset. */
TG_API tg_dataset *tg_dataset_from_bytes(size_t n, int ndim, const size_t *shape,
                                  const uint8_t *data, const int64_t *labels);
TG_API tg_dataset *tg_dataset_from_floats(size_t n, int ndim, const size_t *shape,
                                   const float *data, const int64_t *labels);

/* Transforms of an in-memory dataset, applied at fetch in this order:
 * bytes to floats (x/255 unless no_scale), grayscale, resize, pad,
 * normalise, flatten. Samples are [C,H,W] (or [H,W] as one channel); a
 * zeroed struct is the identity (with the scaling of bytes). */
typedef enum { TG_RESIZE_NEAREST = 0, TG_RESIZE_BILINEAR = 1 } tg_resize_mode;
#define TG_TF_MAX_CHANNELS 8
typedef struct tg_transform {
  bool no_scale;             /* bytes as 0..255 rather than [0,1] */
  bool grayscale;            /* 3 channels (R,G,B) -> 1: 0.299 R + 0.587 G + 0.114 B */
  size_t resize_h, resize_w; /* 0: keep the size */
  tg_resize_mode resize_mode;
  size_t pad_h, pad_w;       /* 0: none; else zero-pad, centred, to this size */
  int n_norm;                /* 0: none; 1: mean[0]/std[0] for every channel; else one per channel */
  float mean[TG_TF_MAX_CHANNELS], std[TG_TF_MAX_CHANNELS];
  bool flatten;              /* sample shape [C*H*W] */
} tg_transform;
/* replace the dataset's transform (relative to the raw samples; NULL
 * removes it); updates ds->ndim/shape/sample_numel. In-memory datasets only. */
TG_API int tg_dataset_set_transform(tg_dataset *ds, const tg_transform *tf);
/* per-channel mean and population std of the dataset's samples as fetched
 * (channels = shape[0] of a 3-d sample, else 1); mean/std hold that many */
TG_API int tg_dataset_channel_stats(tg_dataset *ds, float *mean, float *std);

/* The transforms on planar float buffers ([C,H,W], row-major), for custom
 * datasets; `out` never aliases `in`. A NULL buffer is an error (recorded,
 * nothing written).
 * bytes_to_floats: x / 255 when scale (as torchvision's ToTensor), else x */
TG_API void tg_tf_bytes_to_floats(const uint8_t *in, size_t n, bool scale, float *out);
/* [3,H,W] -> [1,H,W] with PIL's/torchvision's weights 0.299, 0.587, 0.114 */
TG_API void tg_tf_grayscale(const float *rgb, size_t h, size_t w, float *gray);
/* as torch.nn.functional.interpolate(mode='nearest' | 'bilinear',
 * align_corners=False, antialias=False) */
TG_API void tg_tf_resize(const float *in, size_t c, size_t h, size_t w, float *out, size_t oh,
                  size_t ow, tg_resize_mode mode);
/* zero padding to [C,oh,ow] (oh >= h, ow >= w): top = (oh-h)/2, left =
 * (ow-w)/2, the odd pixel at the bottom/right, as torchvision's CenterCrop */
TG_API int tg_tf_pad(const float *in, size_t c, size_t h, size_t w, float *out, size_t oh, size_t ow);
/* in place, channel k: (x - mean[k]) / std[k]; n_stats 1 uses entry 0 for all */
TG_API void tg_tf_normalize(float *x, size_t c, size_t hw, const float *mean, const float *std,
                     size_t n_stats);

/* DataLoader: batches of a dataset into two persistent tensors it owns, x
 * [B, sample shape...] float32 and y [B] int64 (NULL for unlabelled
 * datasets), overwritten by each step: copy what must outlive the step.
 * With shuffle, every epoch visits a new permutation (Fisher-Yates driven
 * by a tg_rng seeded with seed), the same sequence for the same seed.
 * Nothing is allocated after tg_loader_new. The dataset must outlive the
 * loader, and keep its sample shape (set transforms before tg_loader_new). */
typedef struct tg_loader tg_loader;
TG_API tg_loader *tg_loader_new(tg_dataset *ds, size_t batch_size, bool shuffle, bool drop_last,
                         uint64_t seed);
/* The same with num_workers (0..64) threads that fill the next batches
 * ahead of the training loop into preallocated buffers (num_workers + 1
 * batch buffers): exactly the batches of num_workers 0, in the same order.
 * The dataset's fetch then runs on those threads, one call at a time among
 * the workers of all loaders: it must not make tensors, the dataset must not
 * change while an epoch is under way, and a loader without workers must not
 * fetch from it then. A fetch's failure is reported by the tg_loader_next
 * that would have returned that batch. Without workers, everything runs on
 * the caller. */
TG_API tg_loader *tg_loader_new_workers(tg_dataset *ds, size_t batch_size, bool shuffle,
                                 bool drop_last, uint64_t seed, int num_workers);
/* The next batch of the current epoch (starting an epoch if none is under
 * way): true with *x, *y set; false (and NULLs) when the epoch is over —
 * the call after that starts the next epoch — or when a fetch failed
 * (tg_loader_failed). The last short batch has B = the remainder. */
TG_API bool tg_loader_next(tg_loader *l, tg_tensor **x, tg_tensor **y);
/* A sampler (torch's DataLoader(sampler=...)): the visiting order of each
 * epoch, `length` indices (fixed; each below the dataset's length) written
 * by fill(ctx, order) on the caller's thread as each epoch starts; 0, or -1
 * with an error, which the tg_loader_next starting the epoch reports.
 * dist/'s DistributedSampler is one: {tg_dist_sampler_len(s),
 * tg_dist_sampler_fill, s}. */
typedef struct tg_sampler {
  size_t length;
  int (*fill)(void *ctx, size_t *order);
  void *ctx;
} tg_sampler;
/* a loader visiting the sampler's order (no shuffle of its own) */
TG_API tg_loader *tg_loader_new_sampler(tg_dataset *ds, size_t batch_size, bool drop_last,
                                 tg_sampler sampler, int num_workers);
TG_API void tg_loader_reset(tg_loader *l); /* abandon the epoch; the next call starts a new one */
TG_API size_t tg_loader_num_batches(const tg_loader *l); /* per epoch */
TG_API size_t tg_loader_epoch(const tg_loader *l);       /* epochs started so far */
TG_API bool tg_loader_failed(const tg_loader *l);        /* the last false was an error (NULL: true) */
TG_API void tg_loader_free(tg_loader *l);                /* frees x and y too; NULL is fine */
/* A loader's position, to resume a run mid-epoch: the shuffle generator (as
 * the current epoch began, or as the next one will begin), the epochs
 * started and the batches of the current epoch already handed out. Setting
 * it abandons the epoch under way and redraws the saved epoch's permutation
 * (a sampler's fill is called again: it must give that epoch's order), so
 * the next tg_loader_next returns the batch after the last one handed out. */
typedef struct tg_loader_state {
  uint64_t rng[4];
  uint64_t epoch, next;
  bool in_epoch;
} tg_loader_state;
TG_API int tg_loader_get_state(const tg_loader *l, tg_loader_state *out);
TG_API int tg_loader_set_state(tg_loader *l, const tg_loader_state *st); /* same dataset length and batch */

/* IDX files (MNIST, Fashion-MNIST), plain or gzip: images idx3 (magic
 * 0x00000803, n, rows, cols) as a [1,rows,cols] byte dataset, labels idx1
 * (0x00000801, n); num_classes = largest label + 1. */
TG_API int tg_idx_load(const char *images_path, const char *labels_path, tg_dataset **out);
/* dir/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz] (or the
 * "images.idx3-ubyte" spelling); dir NULL = TG_FASHION_MNIST_DIR */
#define TG_FASHION_MNIST_DIR "/usr/share/datasets/fashion-mnist"
TG_API int tg_mnist_load(const char *dir, bool train, tg_dataset **out);

/* CIFAR-10 binary batches (records of 1 label byte + 3072 channel-major
 * R,G,B 32x32 bytes), several files concatenated, as a [3,32,32] dataset */
TG_API int tg_cifar10_load(size_t n_files, const char *const *paths, tg_dataset **out);
/* dir/data_batch_{1..5}.bin (train) or dir/test_batch.bin */
TG_API int tg_cifar10_load_dir(const char *dir, bool train, tg_dataset **out);

/* CSV of numbers (plain or gzip): one sample per line, the other columns as
 * a [F] float dataset; blank lines are skipped. opts NULL: auto header,
 * labels in column 0, commas. */
#define TG_CSV_NO_LABEL (-1)
typedef enum { TG_CSV_HEADER_AUTO = 0, TG_CSV_HEADER_YES, TG_CSV_HEADER_NO } tg_csv_header;
typedef struct tg_csv_opts {
  tg_csv_header header; /* AUTO: the first line is a header if a field is not a number */
  int label_column;     /* 0-based, or TG_CSV_NO_LABEL; a non-negative integer there */
  char delimiter;       /* 0 means ',' */
} tg_csv_opts;
TG_API int tg_csv_load(const char *path, const tg_csv_opts *opts, tg_dataset **out);
/* ---------------------- end of datasets, loader, readers, transforms */

/* ======================================================================
 * Checkpoints, image grids, metrics logs
 * (data/checkpoint.c, image.c, metrics.c; helpers json.c, atomic.c).
 * Functions returning int give 0, or -1 with a message in tg_last_error()
 * naming the file and what was wrong. Files are replaced atomically: a
 * failed write leaves the previous file as it was.
 * ====================================================================== */

/* one key/value pair of checkpoint metadata */
typedef struct tg_kv {
  const char *key;
  const char *value;
} tg_kv;

/* Save n named tensors as safetensors (what safetensors.torch.load_file
 * reads): an 8-byte little-endian header length, a JSON header padded with
 * spaces to a multiple of 8, then each tensor's bytes, row-major and
 * little-endian, in the order given. Any strides are fine (views are
 * written as contiguous). dtypes map to "F32", "F64", "I64", "BOOL". Names must be
 * unique, non-empty UTF-8. metadata (n_meta pairs, may be NULL) goes into
 * "__metadata__" next to an XXH3-64 checksum of each tensor's bytes under
 * "tapegrad.xxh3.<name>" (16 hex digits; that key prefix is reserved). */
TG_API int tg_save_safetensors(const char *path, int n, const char **names, tg_tensor **tensors,
                        const tg_kv *metadata, int n_meta);

/* Load the named tensors of a safetensors file into existing tensors (any
 * strides, e.g. parameters that require grad) by name; dtype and shape must
 * match exactly. Entries of the file not named are ignored. All or nothing:
 * the whole file is validated and checksummed before any destination is
 * written. */
TG_API int tg_load_safetensors_into(const char *path, int n, const char **names, tg_tensor **tensors);

/* A whole safetensors file read into persistent tensors, in header order.
 * Files written by other tools (without tapegrad checksums) load too. Every
 * header field, offset and size is validated before anything is allocated
 * (a header claiming a terabyte is rejected first), and a checksum mismatch
 * is an error naming the tensor. */
typedef struct tg_checkpoint tg_checkpoint;
TG_API tg_checkpoint *tg_checkpoint_read(const char *path); /* NULL on error */
TG_API void tg_checkpoint_free(tg_checkpoint *ck);          /* frees its tensors; NULL is fine */
TG_API size_t tg_checkpoint_count(const tg_checkpoint *ck);
TG_API const char *tg_checkpoint_name(const tg_checkpoint *ck, size_t i);
/* owned by ck (do not tg_free); NULL if taken */
TG_API tg_tensor *tg_checkpoint_tensor(const tg_checkpoint *ck, size_t i);
TG_API tg_tensor *tg_checkpoint_find(const tg_checkpoint *ck, const char *name); /* NULL if absent */
/* hand tensor i over to the caller (free it with tg_free) */
TG_API tg_tensor *tg_checkpoint_take(tg_checkpoint *ck, size_t i);
/* "__metadata__" entries, checksums included, in file order */
TG_API size_t tg_checkpoint_meta_count(const tg_checkpoint *ck);
TG_API const char *tg_checkpoint_meta_key(const tg_checkpoint *ck, size_t i);
TG_API const char *tg_checkpoint_meta_value(const tg_checkpoint *ck, size_t i);
TG_API const char *tg_checkpoint_meta_get(const tg_checkpoint *ck, const char *key); /* NULL if absent */
/* true if the file carried tapegrad checksums (all of which matched) */
TG_API bool tg_checkpoint_verified(const tg_checkpoint *ck);

/* A PNG of n images tiled in a grid as torchvision's make_grid + save_image:
 * ncols per row (0 means 8; at most n), pad black pixels around and
 * between the images. pixels holds n images of h x w x c floats (row-major,
 * channels last), c = 1 (gray) or 3 (RGB), each value clamped to [0, 1]
 * and stored as round(255 v). */
TG_API int tg_save_image_grid(const char *path, const float *pixels, size_t n, size_t h, size_t w,
                       size_t c, size_t ncols, size_t pad);
/* The same from a tensor of any dtype and strides: [n,h,w] (gray),
 * [n,c,h,w] (c = 1 or 3) or [n,h*w] (gray; h and w say how to fold each
 * row). h and w may be 0 for the 3-d and 4-d shapes. */
TG_API int tg_save_image_grid_tensor(const char *path, const tg_tensor *images, size_t h, size_t w,
                              size_t ncols, size_t pad);
/* The same from an [n,h,w] or [n,c,h,w] tensor with captions[k] written
 * under image k in a 5x7 pixel font (white on black; letters, digits and
 * " -_.:%"; upper case drawn as lower case, anything else as '?'). Each
 * image is enlarged zoom times by pixel repetition (0 means 1, at most 16)
 * and centred in a cell as wide as the widest caption. */
TG_API int tg_save_image_grid_captioned(const char *path, const tg_tensor *images,
                                 const char *const *captions, size_t ncols, size_t pad,
                                 size_t zoom);

/* A CSV metrics log: a header line of column names, then one line per row,
 * flushed as it is written (a crash loses at most the row being written).
 * Values are written with the fewest digits that read back exactly.
 * tg_metrics_open starts the file afresh (truncated: a re-run never
 * continues the last run's curve); tg_metrics_open_append, for a resumed
 * run, appends to an existing log with the same columns (different columns
 * are an error) or starts a missing one. */
typedef struct tg_metrics tg_metrics;
TG_API tg_metrics *tg_metrics_open(const char *path, const char *columns /* "epoch,loss,accuracy" */);
TG_API tg_metrics *tg_metrics_open_append(const char *path, const char *columns);
TG_API size_t tg_metrics_ncols(const tg_metrics *m);
TG_API int tg_metrics_row(tg_metrics *m, const double *values /* ncols values */);
TG_API int tg_metrics_close(tg_metrics *m); /* NULL is fine */
/* Plot every column of a metrics CSV against the first one into a PNG
 * (a one-column CSV against the row number, 1, 2, ...), drawn by the
 * library itself: nothing to install, never skipped. Columns that differ
 * only by a train_/test_/val_/valid_ prefix share a panel (train_loss and
 * test_loss: panel "loss", one line each). Lines take matplotlib's tab10
 * colours #1f77b4, #ff7f0e, #2ca02c, #d62728, #9467bd, #8c564b: train_
 * columns the first, test_ the second, val_/valid_ the third, any other the
 * first one still free in its panel (so at most 6 lines a panel; the
 * legend names the split, "train", "test", as the panel names the
 * quantity; names too long for their place are cut with "...");
 * panels are 600x400 pixels, two a row, under a 40-pixel title band when
 * title is not NULL or empty. nan/inf values are gaps in their line.
 * Returns 0 when drawn, -1 on error (an unreadable, empty or malformed
 * CSV, an unwritable PNG; the reason in tg_last_error()). */
TG_API int tg_metrics_plot(const char *csv_path, const char *png_path, const char *title);
/* ---------------------- end of checkpoints, image grids, metrics logs */

/* ---- a module's state dict (parameters and buffers, dotted names as
 * PyTorch's) to and from a safetensors file; loading is all or nothing:
 * names, dtypes and shapes are checked before anything is copied */
TG_API int tg_save_module(const char *path, const tg_module *m, const tg_kv *metadata, int n_meta);
TG_API int tg_load_module(const char *path, tg_module *m);

/* ---- a whole training state (data/train_state.c), to stop a run anywhere
 * and resume it bit-identically: the model's parameters and buffers, the
 * optimizer's state and each group's lr, weight_decay and momentum, the
 * scheduler's epoch (and ReduceLROnPlateau's best/bad epochs/cooldown),
 * the caller's epoch and step counters, the generators (any tg_rng the run
 * draws from: init, dropout, augmentation, in a fixed order) and the
 * loader's position in its shuffled order. One safetensors file with
 * checksums, replaced atomically. Load restores into objects built as the
 * saved run built them (same model, optimizer kind and groups, scheduler
 * kind, number of generators, loader over the same dataset and batch size):
 * every entry is checked (present, dtype and shape) before anything is
 * written, and a mismatch is an error naming the entry. */
/* Early stopping's bookkeeping for a metric to minimise (a validation
 * loss), kept by the caller and saved with the training state, so a resumed
 * run stops after the epoch an uninterrupted one would and restores the
 * same weights. */
typedef struct tg_early_stop {
  double best;      /* the lowest metric so far; INFINITY before the first */
  long best_epoch;  /* the epoch that reached it; 0: none yet */
  long bad_epochs;  /* epochs since best_epoch: the patience counter */
  bool stopped;     /* patience ran out: the run is over */
  /* NULL (not saved), or one tensor per entry of the model's state dict, in
   * its order, of its dtypes and shapes: the best epoch's values */
  tg_tensor **best_weights;
} tg_early_stop;

typedef struct tg_train_state {
  tg_module *model;       /* required */
  tg_optimizer *opt;      /* NULL: none saved */
  tg_lr_scheduler *sched; /* NULL: none (needs opt) */
  long epoch, step;       /* the caller's counters; written back by load */
  tg_rng **rngs;          /* n_rngs generators, written back by load */
  int n_rngs;
  tg_loader *loader;      /* NULL: none; load sets its position */
  tg_early_stop *early;   /* NULL: none; load writes it back */
} tg_train_state;
TG_API int tg_train_state_save(const char *path, const tg_train_state *st);
TG_API int tg_train_state_load(const char *path, tg_train_state *st);

#ifdef __cplusplus
}
#endif

#endif
