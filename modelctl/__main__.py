from modelctl.cli.main import run

run()
