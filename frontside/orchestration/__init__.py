"""Orchestration: Prefect tasks (thin wrappers over plain functions, one shard or one run each) and the flows
that compose them."""
