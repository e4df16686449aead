"""frontside: synthetic front/side face pairs and a network that rebuilds a 3D face from them."""

__version__ = "0.1.0"


def _quiet_tqdm_monitor() -> None:
    # tqdm's monitor thread, alive at interpreter exit beside pyarrow 26, makes ~1 process in 10 that read a shard
    # abort as it exits ("terminate called without an active exception", exit -6). Our bars need no monitor.
    try:
        import tqdm
    except ImportError:
        return
    tqdm.tqdm.monitor_interval = 0


_quiet_tqdm_monitor()
