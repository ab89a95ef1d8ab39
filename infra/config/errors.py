"""The one error every invalid setting raises: it names the setting and the fix."""

from __future__ import annotations


class ConfigError(ValueError):
    """An invalid stage setting. The message names the setting and the fix."""

    def __init__(self, setting: str, problem: str, fix: str) -> None:
        self.setting = setting
        self.problem = problem
        self.fix = fix
        super().__init__(f"invalid setting `{setting}`: {problem}. Fix: {fix}.")


def require(ok: bool, setting: str, problem: str, fix: str) -> None:
    """Raise ConfigError(setting, problem, fix) unless `ok`."""
    if not ok:
        raise ConfigError(setting, problem, fix)
