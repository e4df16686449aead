"""Learning: data loading and augmentation (`data`), the posmap contract (`network_io`), the networks
(`networks`), the loss, the training loop (`trainer`), its configuration (`config`, `runs`), checkpoints
(`checkpoint`: format, reader, validation, saving) and inference. Prefect-free."""
