"""MSD-10 / MSD-25 genre sequences from ``.npz`` files: the ``msd-genre`` dataset."""
