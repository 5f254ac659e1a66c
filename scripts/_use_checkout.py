"""Make a rule script import this checkout's ``vitconcepts``, never an installed copy.

Snakemake appends a script's folder to the *end* of ``sys.path``, after site-packages, so a
``vitconcepts`` installed in the environment (e.g. another checkout's editable install sharing
the venv) would shadow ``scripts/vitconcepts`` (a symlink to ``src/vitconcepts``) and a job
would run mixed code. Every rule script imports this module before ``vitconcepts``.
"""

import sys
from pathlib import Path

HERE = str(Path(__file__).resolve().parent)
if sys.path[:1] != [HERE]:
    sys.path.insert(0, HERE)
for name in [m for m in sys.modules if m == "vitconcepts" or m.startswith("vitconcepts.")]:
    module_file = getattr(sys.modules[name], "__file__", None) or ""
    if not str(Path(module_file).resolve()).startswith(str(Path(HERE).parent)):
        del sys.modules[name]  # imported from elsewhere before this ran
