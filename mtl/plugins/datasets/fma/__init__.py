"""The FMA spectrogram lab layout: ``fma-spectrograms`` (genre) and ``fma-multitask`` (affect)."""
