# Two commands do all the set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
# The development server runs with DEBUG on (known demo passwords, dev secret key).
RUN_ENV := DEBUG=$${DEBUG:-1}

.PHONY: run test lint migrate demo-users clean

$(BIN)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $@

migrate: $(BIN)/.installed
	$(RUN_ENV) $(BIN)/python manage.py migrate --no-input

demo-users: migrate
	$(RUN_ENV) $(BIN)/python manage.py create_demo_users

run: demo-users
	@echo "Serving on http://$(HOST):$(PORT)/ (Daphne). Log in with a demo login above."
	$(RUN_ENV) $(BIN)/python manage.py runserver $(HOST):$(PORT)

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: $(BIN)/.installed lint
	DEBUG=0 SECRET_KEY=test-only-secret-key $(BIN)/python -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
