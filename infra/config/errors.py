"""The one error every invalid setting raises: it names the setting and the fix."""

from __future__ import annotations


class ConfigError(ValueError):
    """An invalid stage setting. The message names the setting and the fix."""

    def __init__(self, setting: str, problem: str, fix: str, *, source: str | None = None) -> None:
        self.setting = setting
        self.problem = problem
        self.fix = fix
        # Where the value came from when that is a file (a stage file), so the message names it.
        self.source = source
        where = f" in {source}" if source else ""
        super().__init__(f"invalid setting `{setting}`{where}: {problem}. Fix: {fix}.")

    def from_source(self, source: str) -> ConfigError:
        """The same error, naming the file the setting came from."""
        return ConfigError(self.setting, self.problem, self.fix, source=source)


def require(ok: bool, setting: str, problem: str, fix: str) -> None:
    """Raise ConfigError(setting, problem, fix) unless `ok`."""
    if not ok:
        raise ConfigError(setting, problem, fix)
