"""Two photos in, a 3D face out: detection (`detect`), crops that match training (`crop`), the network's
prediction refined by its own landmarks (`pipeline.Reconstructor`), head pose (`pose`), mesh + face.json
(`outputs`), a preview picture (`preview`). `photos` renders held-out synthetic faces as photos to check all of
it against. Kept free of imports so the CLI can read `outputs.MESH_FORMATS` without loading torch."""
