"""The Airflow Assets that connect BRAIN's DAGs (kept apart: the DAG files import them)."""

from airflow.sdk import Asset

#: Updated when brain_data commits new raw recordings or labels.
RAW = Asset(name="brain_raw", uri="brain://raw")
#: Updated by brain_etl when the feature store gets a new commit.
FEATURES = Asset(name="brain_features", uri="brain://features")
