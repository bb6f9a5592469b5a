"""Gives pygeoapi's stock SQLiteGPKG provider a ``sqlite3`` module that can load mod_spatialite.

The provider calls ``enable_load_extension``, which pyenv's Python 3.12 on our machines lacks (built without
loadable SQLite extensions). bench/features.py puts this folder on the PYTHONPATH of that one server only, so the
provider's code runs unchanged on pysqlite3-binary, a build of the same DB-API module that has it.
"""

import sys

import pysqlite3
import pysqlite3.dbapi2

sys.modules["sqlite3"] = pysqlite3
sys.modules["sqlite3.dbapi2"] = pysqlite3.dbapi2
