/* A small VGG-style CNN on CIFAR-10's binary batches, the lectures' data set
 * for convolutional networks, written as the PyTorch model:
 *
 *   Conv2d(3, 32, 3, padding=1, bias=False)   -> BatchNorm2d(32)  -> ReLU -> MaxPool2d(2)  (32, 16, 16)
 *   Conv2d(32, 64, 3, padding=1, bias=False)  -> BatchNorm2d(64)  -> ReLU -> MaxPool2d(2)  (64, 8, 8)
 *   Conv2d(64, 128, 3, padding=1, bias=False) -> BatchNorm2d(128) -> ReLU -> MaxPool2d(2)  (128, 4, 4)
 *   Flatten -> Linear(2048, 10)
 *
 * The convolutions have no bias because the BatchNorm after each one
 * subtracts the channel mean, which would cancel it. One convolution a block
 * (rather than VGG's two) keeps an epoch of 50000 images practical on two
 * cores. PyTorch's default initialisation, cross-entropy, SGD lr 0.01
 * momentum 0.9 (or --adam, lr 1e-3), batch 64. Pixels are scaled to [0, 1]
 * and normalised per channel with the training set's mean and std. Testing
 * is in eval mode (BatchNorm's running statistics).
 *
 * Before training it writes cnn_cifar_samples.png into --out: the first 32
 * training images, zoomed twice, with their class names under them (the
 * lecture's data-visualisation grid). Without --cifar DIR it says where to
 * get the data and exits 0. bench/cnn_cifar_torch.py is the PyTorch twin.
 *
 *   build/examples/cnn_cifar --cifar DIR [--adam] [--epochs 5] [--out DIR] ... */
#include "train_util.h"

#define EXTRA_USAGE " --cifar DIR [--adam]"
#define CHANNELS 3
#define SIDE 32
#define GRID_IMAGES 32
#define GRID_COLS 8
#define GRID_PAD 2
#define GRID_ZOOM 2

static const char *prog = "cnn_cifar";

static const char *const CLASS_NAMES[10] = {"airplane", "automobile", "bird",  "cat",  "deer",
                                            "dog",      "frog",       "horse", "ship", "truck"};

/* indices as PyTorch's nn.Sequential names them: 0/4/8 Conv2d, 1/5/9
 * BatchNorm2d, 12 Flatten, 13 Linear */
static tg_module *vgg_small(tg_rng *rng) {
  const int64_t k3[2] = {3, 3}, pad1[2] = {1, 1}, k2[2] = {2, 2};
#define BLOCK(in, out)                                                                    \
  tg_nn_conv2d(in, out, k3, NULL, pad1, NULL, 1, false, rng),                              \
      tg_nn_batchnorm2d(out, 1e-5, 0.1, true, true), tg_nn_relu(),                         \
      tg_nn_maxpool2d(k2, NULL, NULL, NULL, false)
  return tg_nn_sequential(14, BLOCK(CHANNELS, 32), BLOCK(32, 64), BLOCK(64, 128),
                          tg_nn_flatten(1, -1), tg_nn_linear(128 * 4 * 4, 10, true, rng));
#undef BLOCK
}

static void explain_data(void) {
  printf("%s: no CIFAR-10 data given: run it as %s --cifar DIR.\n"
         "Get the CIFAR-10 binary version from\n"
         "  https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz\n"
         "and unpack it (tar xzf cifar-10-binary.tar.gz); DIR is the folder it makes,\n"
         "cifar-10-batches-bin, which holds data_batch_1.bin ... data_batch_5.bin (training,\n"
         "10000 images each) and test_batch.bin (10000 test images): records of 1 label byte\n"
         "and 3072 pixel bytes (32x32 R, G and B planes).\n",
         prog, prog);
}

/* the first GRID_IMAGES training images (as [0, 1] floats) with their
 * class names under them */
static int save_samples(tg_dataset *train, const char *out_dir) {
  size_t n = train->length < GRID_IMAGES ? train->length : GRID_IMAGES;
  float *px = malloc(n * train->sample_numel * sizeof *px);
  const char *captions[GRID_IMAGES];
  char path[4096];
  int rc = px ? 0 : tg_dataset_error("%s: out of memory for the sample grid", prog);
  for (size_t i = 0; i < n && rc == 0; i++) {
    int64_t y = 0;
    rc = tg_dataset_get(train, i, px + i * train->sample_numel, &y);
    captions[i] = y >= 0 && y < 10 ? CLASS_NAMES[y] : "?";
  }
  if (rc == 0) {
    tg_scope_begin();
    tg_tensor *images = tg_from_f32(4, (size_t[]){n, CHANNELS, SIDE, SIDE}, px);
    train_path(path, sizeof path, out_dir, "cnn_cifar_samples.png");
    rc = images ? tg_save_image_grid_captioned(path, images, captions, GRID_COLS, GRID_PAD, GRID_ZOOM)
                : -1;
    tg_scope_end();
    if (rc == 0) printf("samples: %s (the first %zu training images)\n", path, n);
  }
  free(px);
  return rc;
}

/* CIFAR-10 from dir, the sample grid, then both sets normalised per
 * channel with the training set's mean and std */
static int load_data(const char *dir, const char *out_dir, tg_dataset **train, tg_dataset **test) {
  *train = *test = NULL;
  if (tg_cifar10_load_dir(dir, true, train) || tg_cifar10_load_dir(dir, false, test)) return -1;
  if (save_samples(*train, out_dir)) return -1;
  tg_transform tf = {.n_norm = CHANNELS};
  if (tg_dataset_channel_stats(*train, tf.mean, tf.std)) return -1;
  for (int k = 0; k < CHANNELS; k++)
    if (!(tf.std[k] > 1e-6f)) tf.std[k] = 1; /* a constant channel: only centre it */
  if (tg_dataset_set_transform(*train, &tf) || tg_dataset_set_transform(*test, &tf)) return -1;
  printf("normalised per channel: mean %.4f %.4f %.4f, std %.4f %.4f %.4f (training set)\n",
         tf.mean[0], tf.mean[1], tf.mean[2], tf.std[0], tf.std[1], tf.std[2]);
  return 0;
}

int main(int argc, char **argv) {
  const char *cifar = NULL;
  bool lr_given = false;
  argc = train_take_cifar(argc, argv, &cifar, &lr_given, EXTRA_USAGE);
  if (argc < 0) return 2;
  train_flags f = {.data = NULL, .out = ".", .epochs = 5, .batch = 64, .lr = 0.01, .seed = 0,
                   .threads = 1};
  int rc = train_parse(argc, argv, &f, EXTRA_USAGE);
  if (rc) return rc;
  if (f.linear || f.data) {
    fprintf(stderr, "%s: %s belongs to %s; CIFAR-10 comes from --cifar DIR\n", argv[0],
            f.linear ? "--linear" : "--data", f.linear ? "mlp_mnist" : "the MNIST examples");
    train_usage(argv[0], EXTRA_USAGE);
    return 2;
  }
  if (!cifar) {
    explain_data();
    return 0;
  }
  if (!lr_given) f.lr = f.adam ? 1e-3 : 0.01;
  f.data = cifar; /* for the header line */

  tg_dataset *train = NULL, *test = NULL;
  tg_module *model = NULL;
  tg_optimizer *opt = NULL;
  rc = 1;
  if (load_data(cifar, f.out, &train, &test)) goto done;
  tg_rng rng;
  tg_rng_seed(&rng, f.seed);
  model = vgg_small(&rng);
  size_t np = 0;
  tg_tensor **params = model ? tg_module_parameters(model, &np) : NULL;
  if (!params) goto done;
  opt = train_optimizer(params, np, f.adam, f.lr);
  if (!opt) goto done;
  printf("optimizer: %s lr %g, batch %zu\n", f.adam ? "Adam" : "SGD momentum 0.9", f.lr, f.batch);
  train_classifier c = {.prog = prog, .about = "3-block VGG-style CNN", .model = model, .opt = opt,
                        .in_ndim = 3, .in_shape = {CHANNELS, SIDE, SIDE}};
  rc = train_classifier_run(&c, &f, train, test);
  goto cleanup; /* train_classifier_run reported its own errors */
done:
  fprintf(stderr, "%s: %s\n", prog, tg_last_error());
cleanup:
  tg_optim_free(opt);
  tg_module_free(model);
  tg_dataset_free(train);
  tg_dataset_free(test);
  tg_release_cached();
  return rc;
}
