"""Publish a training's segments as a new segment version: stable ids, the logged model,
the assignment table, the registry entry. The one call a train task makes after fitting.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

import numpy as np

from bigseg.tracking import names
from bigseg.tracking.segment_model import (
    SegmentModelSpec,
    load_segment_spec,
    log_segment_model,
    metadata_dict,
)
from bigseg.tracking.stable_ids import (
    SegmentMatch,
    first_version_ids,
    match_segments,
    select_features,
    to_reference_space,
)
from bigseg.tracking.versions import (
    SegmentVersion,
    commit_segment_version,
    get_segment_version,
    label_assignments,
    list_segment_versions,
)

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from bigseg.tracking.runs import RunLogger

log = logging.getLogger(__name__)

TAG_MAX_ID = "bigseg.segments.max_id"


@dataclass(frozen=True)
class PublishedVersion:
    version: SegmentVersion
    match: SegmentMatch
    spec: SegmentModelSpec
    model_uri: str
    previous: SegmentVersion | None


def previous_version(client: Any, name: str, alias: str = "champion") -> SegmentVersion | None:
    """The version new ids are matched against: the champion, else the latest committed."""
    try:
        return get_segment_version(client, name, alias)
    except LookupError:
        versions = list_segment_versions(client, name)
        return versions[-1] if versions else None


def match_to_previous(
    previous: SegmentModelSpec | None,
    centroids: np.ndarray,
    metadata: Mapping[str, Any],
    names_: Sequence[str] | None,
    max_distance: float | None,
    next_id: int | None = None,
) -> SegmentMatch:
    """Stable ids of new centroids against a previous model (first ids when there is none).

    Centroids are compared in the previous model's feature space (identical metadata: as
    they are; otherwise through :func:`to_reference_space`).
    """
    centroids = np.asarray(centroids, dtype=np.float64)
    if previous is None:
        return first_version_ids(centroids.shape[0], names_)
    if metadata_dict(metadata) == previous.feature_metadata:
        new, old = centroids, previous.centroids
    else:
        new, shared = to_reference_space(centroids, metadata, previous.feature_metadata)
        old = select_features(previous.centroids, previous.feature_metadata, shared)
    return match_segments(old, previous.segment_ids, previous.segment_names, new,
                          names=names_, max_distance=max_distance, next_id=next_id)


def publish_segment_version(
    spark: SparkSession,
    run: RunLogger,
    *,
    predictions: DataFrame,
    centroids: np.ndarray,
    feature_metadata: Any,
    model_name: str,
    root: str,
    as_of: str | date,
    segment_names: Sequence[str] | None = None,
    distance_measure: str = "euclidean",
    match_max_distance: float | None = None,
    rules: dict[str, Any] | None = None,
    key: str = "customer_id",
    prediction_col: str = "prediction",
    distance_col: str = "distance",
    champion_alias: str = "champion",
    challenger_alias: str = "challenger",
    before_register: Callable[[str], None] | None = None,
) -> PublishedVersion:
    """Match ids to the previous version, log the model into ``run`` (the active run),
    write and commit the assignment table, alias the version ``challenger``.

    ``predictions``: the Spark model's output (``key``, centroid index ``prediction_col``,
    ``distance_col``); ``segment_names``: names of the new centroids (used for segments
    that match no previous one).
    """
    client = run.client
    previous = previous_version(client, model_name, champion_alias)
    previous_spec = load_segment_spec(previous.model_uri) if previous else None
    used = [int(v.tags.get(TAG_MAX_ID, -1)) for v in list_segment_versions(client, model_name)]
    next_id = max(used) + 1 if used else None
    metadata = metadata_dict(feature_metadata)
    match = match_to_previous(previous_spec, centroids, metadata, segment_names,
                              match_max_distance, next_id)
    spec = SegmentModelSpec(centroids, metadata, match.segment_ids, match.segment_names,
                            distance_measure=distance_measure, rules=rules)
    run.log_metrics({"matched": len(match.matched), "new": len(match.new_ids)},
                    family=names.SEGMENTS)
    run.log_dict({"previous_version": previous.version if previous else None,
                  "segment_ids": match.segment_ids, "segment_names": match.segment_names,
                  "matched": {str(k): v for k, v in match.matched.items()},
                  "distances": {str(k): v for k, v in match.distances.items()}},
                 "segments/stable_ids.json")
    info = log_segment_model(spec)
    assignments = label_assignments(predictions, match.segment_ids, match.segment_names,
                                    key=key, prediction_col=prediction_col,
                                    distance_col=distance_col)
    # The highest id ever given, so that a retired id never comes back in a later version.
    tags = {TAG_MAX_ID: str(max(match.segment_ids + ([next_id - 1] if used else [])))}
    if previous is not None:
        tags[names.TAG_PARENT_VERSION] = previous.version
    version = commit_segment_version(
        spark, assignments, model_uri=info.model_uri, name=model_name, root=root,
        as_of=as_of, client=client, run_id=run.run_id, tags=tags,
        challenger_alias=challenger_alias, before_register=before_register,
    )
    run.log_segment_sizes(version.sizes)
    return PublishedVersion(version, match, spec, info.model_uri, previous)
