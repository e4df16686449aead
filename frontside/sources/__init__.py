"""Data sources that are not synthetic: 300W-LP (converted into pairs through the dataset driver) and MICC
Florence (scans rendered for evaluation). Torch- and Prefect-free."""
