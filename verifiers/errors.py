"""`CotmillError`: the one base of the errors a user can fix (a bad file, config, workspace,
model or mixture). The CLI prints one as a single line with exit code 1; any other
exception is a bug and shows its traceback.

It lives here, at the bottom of the dependency chain (verifiers <- datagen <- mixtures;
train and cotmill above them), so that every package derives its errors from it without
importing a package above its own. Each subclass keeps the builtin base it had
(ValueError, RuntimeError), so code that catches those still does.

Exceptions that only carry control flow inside one module (math_parse's ParseError, the
sandbox's ProgramExited, a teacher's TransientError that the engine retries, ...) are not
CotmillErrors: should one escape, that is a bug, and its traceback is what to report.
"""

from __future__ import annotations


class CotmillError(Exception):
    """A mistake the user can fix; its message names the file, field or flag to change."""


__all__ = ["CotmillError"]
