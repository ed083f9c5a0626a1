"""Peak memory of a stretch of code, the one way the benchmarks that import it measure it.

CPU: the process's peak resident set (VmHWM), reset to the current resident set through
/proc/self/clear_refs at `start`, minus that resident set; freed heap is first handed back to the
OS (`malloc_trim`), so memory a previous stretch freed but glibc kept is not reused unseen. CUDA:
`torch.cuda.max_memory_allocated` over the memory allocated at `start`.
"""

from __future__ import annotations

import ctypes
import resource

import torch


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1])
    return 0


def rss_mib() -> float:
    """Resident set now, MiB."""
    return _status_kb("VmRSS:") / 1024


class Peak:
    """`start()` then `mib()`: the most memory held at once in between, over what was held at `start`."""

    def __init__(self, device: str | torch.device = "cpu") -> None:
        self.device = torch.device(device)
        self.base = 0

    def start(self) -> "Peak":
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self.base = torch.cuda.memory_allocated()
            return self
        try:
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except OSError:  # not glibc
            pass
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # reset the peak RSS to the current RSS
        self.base = _status_kb("VmRSS:") * 1024
        return self

    def mib(self) -> float:
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            return (torch.cuda.max_memory_allocated() - self.base) / 2**20
        return (_status_kb("VmHWM:") * 1024 - self.base) / 2**20


def process_peak_rss_mib() -> float:
    """The whole process's peak resident set since it started, MiB (what `time -v` reports)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
