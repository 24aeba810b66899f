import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _log_compiles(path: str) -> None:
    """With SIMRL_COMPILE_LOG=FILE, every numba compile of this process (an xdist worker's
    too) appends one line to FILE: pid, start and end (time.time()), the function: to see
    where a cold suite's time goes and whether two workers compile the same kernel."""
    import time

    from numba.core import event

    class Log(event.Listener):
        def on_start(self, ev):
            ev.data["_t0"] = time.time()

        def on_end(self, ev):
            fn = getattr(ev.data.get("dispatcher"), "py_func", None)
            name = f"{fn.__module__}.{fn.__qualname__}" if fn else "?"
            with open(path, "a") as f:
                f.write(f"{os.getpid()} {ev.data.get('_t0', 0):.2f} {time.time():.2f} {name}\n")

    event.register("numba:compile", Log())


if os.environ.get("SIMRL_COMPILE_LOG"):
    _log_compiles(os.environ["SIMRL_COMPILE_LOG"])
