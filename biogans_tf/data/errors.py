"""The one exception type for bad input data."""


class DataError(ValueError):
    """Bad input data: the message names the file, field or flag and what was expected.

    Args:
        path: the file or folder at fault (or a flag/field name).
        problem: what was wrong and what was expected.
    """

    def __init__(self, path, problem):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")
