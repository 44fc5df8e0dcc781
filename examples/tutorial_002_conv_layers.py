"""google/svcca's tutorial 002, "CCA for Convolutional Layers", on cca_core.

The code cells of ``tutorials/002_CCA_for_Convolutional_Layers.ipynb`` from google/svcca
(Copyright 2018 Google Inc., Apache-2.0), unchanged except for what this header lists, to show that
a google/svcca user's code keeps working by changing imports:

* imports: ``from cca_core import compat as cca_core`` instead of ``sys.path.append(".."); import
  cca_core``; no ``%matplotlib inline`` (an IPython magic; set ``MPLBACKEND`` instead);
* data: the tutorial unpickles SVHN conv activations (``model_*_lay03.p``, ``model_1_lay04.p``)
  that google/svcca's repository keeps out of its plain files (Git LFS); here
  :func:`svhn_like_activations` makes the same shapes with the tutorial's architecture
  (conv 3x3, 32 channels -> max pool 2x2 -> conv 3x3, 64 channels -> max pool 2x2) as untrained,
  deterministic numpy networks on smooth random 32 x 32 x 3 images;
* interpolation: ``scipy.interpolate.interp2d`` was removed in SciPy 1.14; the loop that called it
  per (datapoint, channel) is one :func:`cca_core.resize_to` call (bilinear, ``scipy.ndimage.zoom``).
  interp2d sampled the small map at ``i * h_small / h_large`` (left edges aligned, the last row
  repeated); ``resize_to`` aligns pixel centres, ``(i + 0.5) * h_small / h_large - 0.5``.

After the tutorial, a last section (not in the tutorial) runs the DFT method of the SVCCA paper
that google/svcca's ``dft_ccas.fourier_ccas`` meant to provide.

Run: ``python examples/tutorial_002_conv_layers.py`` (``CCA_CORE_TUTORIAL_IMAGES``: number of
images, default 1000 as in the tutorial).
"""

import os, sys
from matplotlib import pyplot as plt
import time
import numpy as np
import pickle
import pandas
import gzip

from cca_core import compat as cca_core
from cca_core import resize_to


def _conv_relu(x, kernel):
    """'same' 3x3 convolution (zero padding, no bias) and ReLU: (N, H, W, Ci) -> (N, H, W, Co)."""
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    out = np.zeros(x.shape[:3] + (kernel.shape[-1],))
    for a in range(3):
        for b in range(3):
            out += padded[:, a:a + x.shape[1], b:b + x.shape[2], :] @ kernel[a, b]
    return np.maximum(out, 0.0)


def _max_pool(x):
    n, h, w, c = x.shape
    return x.reshape(n, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))


def svhn_like_activations(n_images=1000, seed=0):
    """Conv-2 activations of two networks and the pooled conv-2 of the second one.

    Returns ``(acts1, acts2, pool2)`` of shapes (n, 16, 16, 64), (n, 16, 16, 64), (n, 8, 8, 64):
    model 0's and model 1's second conv layer ("lay03") and model 1's max pool after it ("lay04"),
    float32, on the same smooth random images. The two models share half of their weights' variance
    (``w1 = (w0 + w') / sqrt(2)``), as independently trained networks share some features.
    """
    import scipy.ndimage

    rng = np.random.default_rng(seed)
    noise = rng.standard_normal((n_images, 32, 32, 3))
    images = scipy.ndimage.gaussian_filter(noise, sigma=(0, 1.5, 1.5, 0), mode="wrap")
    images = images / images.std()
    k1 = rng.standard_normal((3, 3, 3, 32)) / np.sqrt(27)
    k2 = rng.standard_normal((3, 3, 32, 64)) / np.sqrt(288)
    layers = []
    for model in range(2):
        if model == 1:
            k1 = (k1 + rng.standard_normal(k1.shape) / np.sqrt(27)) / np.sqrt(2)
            k2 = (k2 + rng.standard_normal(k2.shape) / np.sqrt(288)) / np.sqrt(2)
        conv2 = _conv_relu(_max_pool(_conv_relu(images, k1)), k2)
        layers.append(conv2)
    return (layers[0].astype(np.float32), layers[1].astype(np.float32),
            _max_pool(layers[1]).astype(np.float32))


N_IMAGES = int(os.environ.get("CCA_CORE_TUTORIAL_IMAGES", "1000"))

# ------------------------------------------------------------------- the tutorial's code cells


def _plot_helper(arr, xlabel, ylabel):
    plt.plot(arr, lw=2.0)
    plt.xlabel(xlabel)
    plt.ylabel(ylabel)
    plt.grid()


# Load up conv 2 activations from SVHN  (here: the stand-in described in the header)
acts1, acts2, pool2 = svhn_like_activations(N_IMAGES)

print(acts1.shape, acts2.shape)

num_datapoints, h, w, channels = acts1.shape
f_acts1 = acts1.reshape((num_datapoints*h*w, channels))

num_datapoints, h, w, channels = acts2.shape
f_acts2 = acts2.reshape((num_datapoints*h*w, channels))

print(f_acts1.shape, f_acts2.shape)

start = time.time()
f_results = cca_core.get_cca_similarity(f_acts1.T, f_acts2.T, epsilon=1e-10, verbose=False)
print('Time: {:.2f} seconds'.format(time.time() - start))
_plot_helper(f_results["cca_coef1"], "CCA Coef idx", "CCA coef value")

start = time.time()
f_results = cca_core.get_cca_similarity(f_acts1.T[:,::2], f_acts2.T[:,::2], epsilon=1e-10, verbose=False)
print('Time: {:.2f} seconds'.format(time.time() - start))
_plot_helper(f_results["cca_coef1"], "CCA Coef idx", "CCA coef value")

# (pool2, model 1's max pool after conv 2, was loaded here from model_1_lay04.p)
print("shape of first conv", acts1.shape, "shape of second conv", pool2.shape)

avg_acts1 = np.mean(acts1, axis=(1,2))
avg_pool2 = np.mean(pool2, axis=(1,2))

print("shapes after average pool over spatial dimensions", avg_acts1.shape, avg_pool2.shape)
a_results = cca_core.get_cca_similarity(avg_acts1.T, avg_pool2.T, epsilon=1e-10, verbose=False)
_plot_helper(a_results["cca_coef1"], "CCA Coef idx", "CCA coef value")

num_d, h, w, _ = acts1.shape
num_c = pool2.shape[-1]
# was: a loop over num_d and num_c calling scipy.interpolate.interp2d (removed in SciPy 1.14)
pool2_interp = resize_to(pool2, (h, w), method="zoom")

print("new shape", pool2_interp.shape)

num_datapoints, h, w, channels = acts1.shape
f_acts1 = acts1.reshape((num_datapoints*h*w, channels))

num_datapoints, h, w, channels = pool2_interp.shape
f_pool2 = pool2_interp.reshape((num_datapoints*h*w, channels))

f_results = cca_core.get_cca_similarity(f_acts1.T[:,::5], f_pool2.T[:,::5], epsilon=1e-10, verbose=False)
_plot_helper(f_results["cca_coef1"], "CCA Coef idx", "CCA coef value")

# ------------------------------------- not in the tutorial: the DFT method (SVCCA paper, Theorem 1)
import cca_core as cc  # noqa: E402

start = time.time()
dft_same = cc.dft_cca(acts1, acts2)           # same spatial size: all 16 x 16 frequencies
dft_sizes = cc.dft_cca(acts1, pool2)          # 16 x 16 vs 8 x 8: the 8 x 8 lowest frequencies
print("DFT-CCA mean: same layer {:.4f}, conv2 vs pool2 {:.4f} ({:.2f} seconds)".format(
    dft_same.mean, dft_sizes.mean, time.time() - start))
table = cca_core.fourier_ccas(acts1, pool2)   # google/svcca's per-location table
print(table[["location", "mean"]].head())
plt.close("all")
