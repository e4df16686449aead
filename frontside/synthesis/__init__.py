"""Face synthesis: a face from a face model, its N views rendered into their crops, per-view labels from the
geometry and the front view's position map (`pairs`), and synthetic datasets as a source for the dataset driver
(`config`, `generate`). Torch- and Prefect-free."""
