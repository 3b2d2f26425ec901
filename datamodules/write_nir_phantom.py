"""``python -m datamodules.write_nir_phantom --out DIR``: write the near-infrared phantom as 16-bit PNG folders.

A module of its own (not ``python -m datamodules.nir_phantom``): the package's ``__init__`` imports ``nir_phantom``,
so running that module with ``-m`` would execute it a second time (and runpy warns).
"""

import sys

from datamodules.nir_phantom import main

if __name__ == "__main__":
    sys.exit(main())
