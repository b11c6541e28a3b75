"""Exceptions that the CLI turns into one readable line and an exit code."""


class MtlError(Exception):
    """Base class of errors meant for the user; ``exit_code`` is what the CLI returns."""

    exit_code = 1


class UserError(MtlError):
    """A mistake in what the user asked for (names, options, files): exit code 2."""

    exit_code = 2


class RunFailure(MtlError):
    """Something went wrong while doing valid work (e.g. training diverged): exit code 1."""

    exit_code = 1


class Interrupted(KeyboardInterrupt):
    """Training was interrupted (Ctrl-C); ``run_dir`` can be resumed."""

    def __init__(self, run_dir: object):
        super().__init__(str(run_dir))
        self.run_dir = run_dir


class AlreadyFinished(MtlError):
    """Nothing to do: the run asked for is finished. Not a failure (exit code 0); the
    message says how to train it further, where that is possible."""

    exit_code = 0
