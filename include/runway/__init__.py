"""Runway: the logic behind the Airflow DAGs, importable and testable without Airflow."""
