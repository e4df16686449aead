"""The shard store: the pair record, Parquet shards and their manifest, the folder lock, the resumable dataset
driver that runs any source, the dataset card and `frontside info`. Torch- and Prefect-free."""
