"""The one exception type a user can cause; CLIs print its message and exit with code 2."""


class UserError(ValueError):
    """Bad input from the user (unknown name, bad path, corrupt file, invalid value).

    The message is a single line naming the bad value and what would be valid.
    Command-line entry points catch it, print it to stderr and exit 2, never a traceback.
    """
