#!/usr/bin/env bash
# The main job: set-up, an optimised build, then the lecture examples.
# Output files (the chain rule graph as DOT) go to ./out (or $TG_OUT).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
if [ ! -f build/build.ninja ]; then
  meson setup build --buildtype=release >/tmp/tg-build-setup.log 2>&1 || { cat /tmp/tg-build-setup.log; exit 1; }
fi
ninja -C build >/tmp/tg-build.log 2>&1 || { cat /tmp/tg-build.log; exit 1; }
out=${TG_OUT:-out}
mkdir -p "$out"
for ex in chain_rule dot quadratic_form sigmoid_gate softmax_ce jacobian hessian_saddle complex_cell quickstart \
    param_count chain_composition rate_of_change numerical_gradient init_symmetry minibatch_epochs \
    ema_momentum fprop_bprop rnn_on_the_fly forward_mode activation_stats; do
  echo "================ examples/$ex"
  if [ "$ex" = chain_rule ]; then
    build/examples/$ex "$out/chain_rule.dot"
  elif [ "$ex" = ema_momentum ]; then
    build/examples/$ex "$out"
  else
    build/examples/$ex
  fi
done

# Training on the default data (Fashion-MNIST from Debian's dataset-fashion-mnist;
# any MNIST-format directory works with TG_DATA=DIR).
data=${TG_DATA:-/usr/share/datasets/fashion-mnist}
echo "================ examples/mlp_mnist (5 epochs on $data)"
build/examples/mlp_mnist --data "$data" --epochs 5 --out "$out"
echo "================ examples/cnn_mnist (LeNet-5, 5 epochs on $data)"
build/examples/cnn_mnist --data "$data" --epochs 5 --out "$out"
echo "================ examples/cnn_cifar (CIFAR-10 CNN: without --cifar DIR it says where to get the data)"
if [ -n "${TG_CIFAR:-}" ]; then
  build/examples/cnn_cifar --cifar "$TG_CIFAR" --epochs 2 --out "$out"
else
  build/examples/cnn_cifar --out "$out"
fi
echo "================ examples/cifar_mlp (SimpleMLP with BatchNorm on Fashion-MNIST padded to 32x32, 2 epochs)"
build/examples/cifar_mlp --data "$data" --epochs 2 --out "$out"
echo "================ examples/vae_mnist (the PyTorch-examples VAE, 2 epochs)"
build/examples/vae_mnist --data "$data" --epochs 2 --out "$out"
echo "================ examples/char_lstm (Embedding -> 2-layer LSTM -> Linear on the word list, 2 short epochs)"
build/examples/char_lstm --epochs 2 --max-steps 300
echo "================ examples/gpt_mini (the lecture's GPT shrunk to 46,289 parameters, 2000 SGD steps on the word list)"
build/examples/gpt_mini
