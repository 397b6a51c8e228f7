"""The `bigseg` console script.

    bigseg doctor [hydra overrides...]       check Java, Spark, executors, FAISS, GPUs, MLflow
    bigseg local-cluster start|stop|status   a standalone Spark cluster on 127.0.0.1
    bigseg package [--out dist]              bigseg as a zip for spark-submit --py-files
    bigseg version
"""

from __future__ import annotations

import argparse
import logging
import sys

import bigseg


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="bigseg", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["doctor", "local-cluster", "package", "version"])
    args, rest = parser.parse_known_args(argv[:1])
    rest = argv[1:]
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("py4j").setLevel(logging.WARNING)

    if args.command == "version":
        sys.stdout.write(f"bigseg {bigseg.__version__}\n")
        return 0
    if args.command == "package":
        from bigseg.shipping import build_zip

        out = argparse.ArgumentParser(prog="bigseg package")
        out.add_argument("--out", default="dist", help="folder for the zip (default dist)")
        sys.stdout.write(f"{build_zip(out.parse_args(rest).out)}\n")
        return 0
    if args.command == "local-cluster":
        from bigseg.cluster import main as cluster_main

        return cluster_main(rest)
    from bigseg.config import compose
    from bigseg.doctor import run_doctor

    # Hydra overrides, as for jobs/doctor.py: bigseg doctor spark.master=spark://host:7077
    return run_doctor(compose("doctor", rest))


if __name__ == "__main__":
    sys.exit(main())
