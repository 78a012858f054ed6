"""brain_etl: new raw recordings -> features in the feature store.

Runs hourly and whenever brain_data reports new raw data (the ``brain_raw`` Asset);
short-circuits when nothing is new; updates the ``brain_features`` Asset, which starts
brain_train.
"""

from datetime import UTC, datetime, timedelta

from airflow.sdk import dag, task
from airflow.timetables.assets import AssetOrTimeSchedule
from airflow.timetables.trigger import CronTriggerTimetable

from brain_dags.assets import FEATURES, RAW

RETRIES = {"retries": 3, "retry_delay": timedelta(seconds=20),
           "retry_exponential_backoff": True, "max_retry_delay": timedelta(minutes=10)}


@dag(
    dag_id="brain_etl",
    schedule=AssetOrTimeSchedule(
        timetable=CronTriggerTimetable("0 * * * *", timezone="UTC"), assets=RAW),
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    default_args=RETRIES,
    tags=["brain"],
    doc_md=__doc__,
)
def brain_etl():
    @task.short_circuit
    def has_new_data() -> bool:
        from brain_dags.tasks import has_new_data

        return has_new_data()

    @task(outlets=[FEATURES])
    def transform_new() -> dict:
        from brain_dags.tasks import transform_new

        return transform_new()

    has_new_data() >> transform_new()


brain_etl()
