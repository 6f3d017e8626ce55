"""One error type for every bad input: it names the file, lists every problem, says how to fix."""

from __future__ import annotations

import difflib
from collections.abc import Callable

from pydantic import ValidationError


class ConfigurationError(Exception):
    """Bad stack config, catalogue or release manifest. Raised before any resource is registered."""

    def __init__(self, source: str, problems: list[str], fix: str = ""):
        self.source = source
        self.problems = list(problems)
        self.fix = fix
        lines = [f"{source} has {len(self.problems)} problem(s):"]
        lines += [f"  - {p}" for p in self.problems]
        if fix:
            lines.append(f"Fix: {fix}")
        super().__init__("\n".join(lines))

    @staticmethod
    def combine(errors: list[ConfigurationError]) -> ConfigurationError:
        """Many files' problems as one error, so a person sees them all at once."""
        if len(errors) == 1:
            return errors[0]
        merged = ConfigurationError(
            ", ".join(e.source for e in errors), [f"{e.source}: {p}" for e in errors for p in e.problems]
        )
        merged.args = ("\n\n".join(str(e) for e in errors),)
        return merged


def describe_validation_error(
    exc: ValidationError,
    prefix: str = "",
    secret_keys: frozenset[str] = frozenset(),
    known_keys: Callable[[tuple], list[str]] | None = None,
) -> list[str]:
    """pydantic's errors as `key: what is wrong` lines (the key as the user wrote it).

    The offending value is quoted to help the fix, except under a secret key; an unknown
    key gets the closest known one (`known_keys` lists the keys allowed at a location).
    """
    lines = []
    for err in exc.errors(include_url=False):
        key = prefix + ".".join(str(part) for part in err["loc"])
        shown = "[secret]" if any(key == k or key.startswith(k + ".") for k in secret_keys) else repr(err.get("input"))
        if err["type"] == "extra_forbidden":
            close = difflib.get_close_matches(str(err["loc"][-1]), known_keys(err["loc"]), n=1) if known_keys else []
            if close:
                hint = f"did you mean {prefix}{'.'.join([*map(str, err['loc'][:-1]), close[0]])}?"
            else:
                hint = "a typo, or a key this version does not support"
            lines.append(f"{key}: unknown key ({hint})")
        elif err["type"] == "missing":
            lines.append(f"{key}: required, but not set")
        else:
            lines.append(f"{key}: {err['msg']} (got {shown})")
    return lines
