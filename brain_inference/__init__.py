"""BRAIN's inference service: the MLflow champion, served over HTTP, swapped in live."""
