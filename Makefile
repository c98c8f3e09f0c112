# The two set-up commands of the README. Each one installs what it needs first (scripts/setup.sh).
.PHONY: demo test lint

demo:
	@scripts/setup.sh
	.venv/bin/fastpoll demo $(ARGS)

test:
	@scripts/setup.sh
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/python -m pytest $(ARGS)

lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check .
