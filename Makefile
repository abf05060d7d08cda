# The two commands of the README: `make demo` runs the product on real mail, `make test` runs the tests.
.PHONY: setup demo test clean

setup:
	@bash scripts/bootstrap.sh

demo: setup
	@.venv/bin/python scripts/demo.py

test: setup
	@.venv/bin/python -m pytest -q

clean:
	rm -rf .demo .pytest_cache
