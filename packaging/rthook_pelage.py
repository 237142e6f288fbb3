"""PyInstaller runtime hook: the bundle is only read; what Pelage's libraries cache goes to the user's cache folder.

- The window's icon and stylesheet come from the bundle's ``resources/`` (``pelage.ui.resources`` reads
  ``PELAGE_RESOURCES``; models and u2netp are found by ``pelage.paths.bundle_dir``).
- pymatting (imported by rembg) compiles its numba functions when it is imported, a minute or more on a
  laptop; numba keeps them only beside a source file or in ``NUMBA_CACHE_DIR``. The spec ships pymatting as
  source, and the compiled code is kept in the user's cache folder, so only the first start pays.
- No ``.pyc`` files are written beside those sources, inside the bundle.

A user's own setting of either variable wins.
"""

import os
import sys

import platformdirs

sys.dont_write_bytecode = True
os.environ.setdefault("PELAGE_RESOURCES", os.path.join(sys._MEIPASS, "resources"))
os.environ.setdefault("NUMBA_CACHE_DIR", os.path.join(platformdirs.user_cache_dir("pelage", appauthor=False), "numba"))
