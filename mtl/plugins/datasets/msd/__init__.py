"""Million Song Dataset + musiXmatch lyrics: file readers, ``mtl data prepare msd``, the ``msd`` dataset.

Readers (``mxm_text``, ``mxm_sqlite``, ``msd_h5``, ``msd_sqlite``, ``genre_cls``) accept
the published files as they are; ``prepare`` combines them into one HDF5 file
(``store``); ``dataset`` serves that file to ``mtl train``. See docs/msd.md.
"""
