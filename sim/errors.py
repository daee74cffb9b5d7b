"""The one exception type for a user's mistake (bad scenario, bad option, bad file).

The CLI prints it as one line and exits with status 2; it is never shown as a traceback.
"""


class UserInputError(Exception):
    """A mistake in what the user gave us. The message names the file and the field."""


class OutputError(UserInputError, OSError):
    """Results could not be written where the user asked (a full disk, no permission): one
    line naming the folder, exit 2, like any input error; an ``OSError`` to code that catches
    those."""


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM arrived (Ctrl-C, a cluster scheduler's stop): raised in the main thread
    so that every ``finally`` and clean-up runs; the CLI exits with 128 + the signal's number."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum
