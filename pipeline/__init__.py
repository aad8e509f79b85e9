"""Glimpse's pipeline: one module per DVC stage and the code the stages share.

Importing the package pins the CPU code paths of torch's math libraries to AVX2 (MKL's
conditional numerical reproducibility, oneDNN's and ATen's instruction sets) before torch is
loaded. Left to choose, they pick kernels by the CPU's vector width, a wider vector sums in
another order, and a network trained for a few hundred steps turns that last bit into other
predictions: the same training on byte-identical shards gave a different results table on an
AVX-512 machine than on the machine that wrote it. Capped at AVX2, machines with and without
AVX-512 run the same kernels (measured on a 2-core AVX-512 Xeon: training about 20 % slower). Variables already set in the environment win (export
ONEDNN_MAX_CPU_ISA=ALL and friends to trade reproducibility for speed).
"""

import os
import platform

if platform.machine().lower() in ("x86_64", "amd64"):
    for _name, _value in {"MKL_CBWR": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2",
                          "ATEN_CPU_CAPABILITY": "avx2"}.items():
        os.environ.setdefault(_name, _value)
