"""Reporters that interrupt a run at a known point (for exact-resume tests), and the
metrics records without their timing fields (what two runs must agree on)."""

import os
import signal

from mtl.core.reporter import TIMING_KEYS, Reporter


class SignalAt(Reporter):
    """Sends this process SIGUSR2 (the preemption warning) before ``step`` of ``epoch``."""

    def __init__(self, epoch, step):
        self.at = (epoch, step)

    def on_batch(self, epoch, step, loss):
        if (epoch, step) == self.at:
            os.kill(os.getpid(), signal.SIGUSR2)


class InterruptAfter(Reporter):
    """Raises KeyboardInterrupt (Ctrl-C) once ``epoch`` has been recorded."""

    def __init__(self, epoch):
        self.epoch = epoch

    def on_epoch(self, epoch, records, improved):
        if epoch == self.epoch:
            raise KeyboardInterrupt


def strip(records):
    return [{k: v for k, v in r.items() if k not in TIMING_KEYS} for r in records]
