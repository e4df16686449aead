"""The shard store: the face record (N views), Parquet shards and their manifest, the folder lock, the resumable dataset
driver that runs any source, the dataset card and `frontside info`. Torch- and Prefect-free."""
