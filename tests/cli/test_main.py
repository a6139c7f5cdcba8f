"""The ``themis-env`` parser registers every command group, and a broken one fails loudly."""

from __future__ import annotations

import pytest

from themis_env import cli


def test_every_command_group_is_registered() -> None:
    parser = cli.build_parser()
    (subparsers,) = (a for a in parser._actions if a.dest == "command")
    assert {"traces", "evaluate", "leaderboard", "validate", "scenarios"} <= set(subparsers.choices)


def test_version_prints_the_installed_version(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib.metadata import version

    with pytest.raises(SystemExit) as done:
        cli.main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out == f"themis-env {version('themis-env')}\n"


def test_a_command_module_that_does_not_import_is_an_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(cli, "COMMAND_MODULES", (*cli.COMMAND_MODULES, "themis_env.cli.nowhere"))
    with pytest.raises(ModuleNotFoundError, match="themis_env.cli.nowhere"):
        cli.build_parser()
