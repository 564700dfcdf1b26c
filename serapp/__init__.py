"""serapp: real-time speech emotion recognition (app, engine and trainer)."""

import os

# Real-time discipline: one BLAS/OpenMP thread per process. The engine's maths are small matrices where
# thread start-up costs more than it saves, and the audio/GUI threads must not be starved. Set before
# numpy is imported anywhere; a user's explicit setting wins.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

__version__ = "0.1.0"
