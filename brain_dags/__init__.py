"""BRAIN's Airflow DAGs (files in ``brain_dags/dags/``) and the task functions they call."""
