"""What /proc says of a process: its name and the CPU it has used (Linux)."""

import os
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def process_stat(pid: int) -> tuple[str, float]:
    """A process's name and the CPU seconds (user + system) it has used so far (raises
    OSError once it is gone)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    name, fields = stat[stat.index("(") + 1 : stat.rindex(")")], stat[stat.rindex(")") + 2 :]
    utime, stime = fields.split()[11:13]
    return name, (int(utime) + int(stime)) / CLOCK_TICKS


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far."""
    return process_stat(pid)[1]
