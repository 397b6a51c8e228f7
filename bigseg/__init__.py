"""bigseg: customer segmentation at scale.

Rings, imports pointing inward: ``bigseg.kmeans`` (numpy + FAISS, no Spark) <-
``bigseg.spark`` (pyspark.ml estimators) <- ``bigseg.tasks`` <- ``jobs/`` (Hydra entry
points). Importing ``bigseg`` itself stays cheap: no Spark, FAISS or MLflow import.
"""

__version__ = "0.1.0"
