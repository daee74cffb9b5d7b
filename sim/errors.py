"""The one exception type for a user's mistake (bad scenario, bad option, bad file).

The CLI prints it as one line and exits with status 2; it is never shown as a traceback.
"""


class UserInputError(Exception):
    """A mistake in what the user gave us. The message names the file and the field."""
