"""The one exception type of the project: every expected failure carries a plain message."""


class SerappError(Exception):
    """A failure the user can act on (bad file, bad model, missing device, bad parameter).

    The message is written for a person, not a developer: it names the file or setting involved
    and, where there is one, the fix. Command-line and GUI front ends show it without a traceback.
    """
