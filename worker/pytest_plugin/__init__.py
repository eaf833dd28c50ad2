"""Files that run inside a suite's own interpreter (any Python with pytest): the shard plugin
(``-p dtf_shard``, this folder on PYTHONPATH) and the warm fork server. They import only the
standard library and pytest; this package exists so installs ship them and callers find them."""
from pathlib import Path

PLUGIN_DIR = Path(__file__).resolve().parent
FORK_SERVER = PLUGIN_DIR / "dtf_forkserver.py"
