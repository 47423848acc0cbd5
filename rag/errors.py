"""Errors a user can act on: one line, naming the file or setting and what to do."""


class RagError(Exception):
    """Base class; ``str(err)`` is the one-line message shown to the user."""


class IngestError(RagError):
    def __init__(self, path: str, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class IndexMissingError(RagError):
    pass


class LLMError(RagError):
    pass


class InputError(RagError):
    pass
