"""Celery task entry points (one module per feature) and the engines they dispatch to."""
