"""Ship bigseg to executors that do not have it installed.

``build_zip()`` writes ``dist/bigseg-<version>.zip``: the ``bigseg`` package (modules and
its YAML configs) as Python imports it from a zip, for ``spark-submit --py-files``::

    bigseg package                       # -> dist/bigseg-0.1.0.zip
    spark-submit --master spark://host:7077 \\
        --py-files dist/bigseg-0.1.0.zip jobs/pipeline.py

bigseg's own dependencies (numpy, pandas, pyarrow, faiss, scipy, ...) must then be on the
executors' Python, or travel as a packed environment with ``spark.archives`` (see the
README's "Running on a cluster"). The zip holds no compiled code, so one zip serves every
platform.
"""

from __future__ import annotations

import logging
import zipfile
from pathlib import Path

import bigseg

log = logging.getLogger(__name__)

_PACKAGE = Path(bigseg.__file__).resolve().parent
_SUFFIXES = (".py", ".yaml", ".typed")


def package_files(root: Path = _PACKAGE) -> list[Path]:
    """The files of the bigseg package that executors need, sorted (a stable zip)."""
    return sorted(p for p in root.rglob("*")
                  if p.is_file() and p.suffix in _SUFFIXES and "__pycache__" not in p.parts)


def build_zip(out_dir: str | Path = "dist") -> Path:
    """Write ``<out_dir>/bigseg-<version>.zip`` (``bigseg/...`` at the zip's root)."""
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    target = out / f"bigseg-{bigseg.__version__}.zip"
    files = package_files()
    # A fixed timestamp: the same sources give the same bytes (cache-friendly on clusters).
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for path in files:
            info = zipfile.ZipInfo(f"bigseg/{path.relative_to(_PACKAGE).as_posix()}",
                                   date_time=(2020, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, path.read_bytes())
    log.info("wrote %s (%d files, %.0f KiB)", target, len(files), target.stat().st_size / 1024)
    return target
