"""Bad input at the command line: a clear message naming the problem, exit code 2."""

from __future__ import annotations

from tests.acceptance.conftest import Workdir


def test_unknown_config_key_exits_2_naming_the_key(workdir: Workdir) -> None:
    cfg = workdir.path / "bad.toml"
    cfg.write_text("[risk]\nmax_order_qty = 5\n")

    proc = workdir.run("run", "--until-exhausted", "--config", str(cfg), check=False)

    assert proc.returncode == 2
    assert "risk.max_order_qty" in proc.stderr
    assert "max_order_quantity" in proc.stderr


def test_malformed_data_row_stops_before_trading_naming_file_and_line(workdir: Workdir) -> None:
    data = workdir.path / "bars.csv"
    data.write_text(
        "time,open,high,low,close,volume\n"
        "2024-01-01T00:00:00Z,1,2,0.5,1.5,10\n"
        "2024-01-01T01:00:00Z,1,0.4,0.5,1.5,10\n"
    )
    cfg = workdir.path / "c.toml"
    cfg.write_text(
        f'[[feed.sources]]\nkind = "csv"\npath = "{data}"\nsymbol = "X"\ntimeframe = "1h"\n'
        '[[strategies]]\nname = "sma_cross"\nsymbols = ["X"]\ntimeframe = "1h"\n'
    )

    proc = workdir.run("run", "--until-exhausted", "--config", str(cfg), check=False)

    assert proc.returncode == 2
    assert f"{data}:3" in proc.stderr
    assert "high 0.4 is below low 0.5" in proc.stderr
    assert not workdir.db.exists()


def test_config_show_masks_secrets(workdir: Workdir) -> None:
    cfg = workdir.path / "c.toml"
    cfg.write_text('[secrets]\ntelegram_token = "123:very-secret"\n')

    proc = workdir.run("config", "show", "--config", str(cfg))

    assert "very-secret" not in proc.stdout
    assert "********" in proc.stdout
