"""brain_train: features -> a new model in MLflow, promoted to champion only if better.

Runs when brain_etl updates the ``brain_features`` Asset.
"""

from datetime import UTC, datetime, timedelta

from airflow.sdk import dag, task

from brain_dags.assets import FEATURES


@dag(
    dag_id="brain_train",
    schedule=[FEATURES],
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 2, "retry_delay": timedelta(seconds=30),
                  "retry_exponential_backoff": True},
    tags=["brain"],
    doc_md=__doc__,
)
def brain_train():
    @task
    def train() -> dict:
        from brain_dags.tasks import train

        return train()

    train()


brain_train()
