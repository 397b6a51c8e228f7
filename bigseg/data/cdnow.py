"""The CDNOW transactions: real purchases that ship inside the ``lifetimes`` wheel.

CDNOW_master.txt holds 69,659 purchases of CDs by 23,570 customers of the online
retailer CDNOW, 1997-01-01 to 1998-06-30: customer id, date (yyyymmdd), number of CDs,
dollar value, separated by runs of spaces. ``lifetimes`` is installed with
``pip install --no-deps lifetimes`` (its modules need packages bigseg does not want);
bigseg only locates the data file through the package metadata and never imports it.

conf/source/cdnow.yaml maps the file onto the transactions contract (one channel, web);
identities (the customer id is the web identity) and customers (signup = first
purchase) are derived from the transactions.
"""

from __future__ import annotations

import importlib.metadata
import logging
from dataclasses import replace
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from bigseg.config import TableSourceConfig
from bigseg.io.readers import read_table

log = logging.getLogger(__name__)

DISTRIBUTION = "lifetimes"
MASTER = "CDNOW_master.txt"
SAMPLE = "CDNOW_sample.txt"
ROWS = 69_659
CUSTOMERS = 23_570


def cdnow_path(name: str = MASTER) -> str:
    """Absolute path of a CDNOW file inside the installed ``lifetimes`` distribution."""
    if name not in (MASTER, SAMPLE):
        raise ValueError(f"name={name!r} should be one of {[MASTER, SAMPLE]}")
    hint = f"install it with: pip install --no-deps {DISTRIBUTION}"
    try:
        dist = importlib.metadata.distribution(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        raise FileNotFoundError(
            f"the {DISTRIBUTION!r} package holding {name} is not installed; {hint}"
        ) from None
    for file in dist.files or []:
        if file.name == name and file.parent.name == "datasets":
            path = Path(str(dist.locate_file(file))).resolve()
            if path.is_file():
                return str(path)
            raise FileNotFoundError(
                f"{path} is listed by {DISTRIBUTION} but missing; reinstall: {hint}"
            )
    raise FileNotFoundError(f"{DISTRIBUTION} {dist.version} has no datasets/{name}; {hint}")


def load_cdnow(spark: SparkSession, cfg: TableSourceConfig) -> dict[str, DataFrame]:
    """Read CDNOW as configured (conf/source/cdnow.yaml) into transactions, identities, customers.

    A null ``cfg.path`` means the master file of the installed wheel.
    """
    if not cfg.path and not cfg.table:
        cfg = replace(cfg, path=cdnow_path())
    log.info("CDNOW transactions from %s", cfg.path or cfg.table)
    # Cached: the file is small (about 5 MB in memory) and three tables derive from it;
    # without the cache each would parse and number the lines again.
    transactions = read_table(spark, cfg, "transactions").cache()
    known = transactions.filter(F.col("channel_id").isNotNull() & F.col("channel").isNotNull())
    identities = known.select(
        "channel", "channel_id", F.col("channel_id").alias("customer_id")
    ).distinct()
    customers = known.groupBy(F.col("channel_id").alias("customer_id")).agg(
        F.to_date(F.min("ts")).alias("signup_date")
    )
    return {"transactions": transactions, "identities": identities, "customers": customers}
