# Two commands do all the set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
# The development server runs with DEBUG on (known demo passwords, dev secret key).
RUN_ENV := DEBUG=$${DEBUG:-1}
# axe-core, from npm, for the accessibility tests (tests/test_accessibility.py injects it into pages).
AXE_VERSION := 4.11.0
AXE := var/npm/node_modules/axe-core/axe.min.js

.PHONY: run test lint migrate demo-users browser messages clean

# One install at a time: `make run` and `make test` started together share the virtualenv.
$(BIN)/.installed: requirements.txt
	@mkdir -p var
	flock var/install.lock sh -c '[ $@ -nt requirements.txt ] || { \
	  $(PYTHON) -m venv $(VENV) && \
	  $(BIN)/python -m pip install --quiet --upgrade pip && \
	  $(BIN)/python -m pip install --quiet -r requirements.txt && \
	  touch $@; }'

# DEBUG on and a generated secret key, for every later command of this checkout (git-ignored).
.env:
	@printf '# Written by make run for development (never deploy it). Delete it to start over.\nDEBUG=1\nSECRET_KEY=%s\n' \
	  "$$(python3 -c 'import secrets; print(secrets.token_urlsafe(50))')" > $@
	@echo "Wrote .env (DEBUG=1, a generated SECRET_KEY): manage.py, runserver and pytest read it."

migrate: $(BIN)/.installed .env messages
	$(RUN_ENV) $(BIN)/python manage.py migrate --no-input

demo-users: migrate
	$(RUN_ENV) $(BIN)/python manage.py create_demo_users

run: demo-users
	@echo "Serving on http://$(HOST):$(PORT)/ (Daphne). Log in with a demo login above."
	$(RUN_ENV) $(BIN)/python manage.py runserver $(HOST):$(PORT)

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# The app's translations, compiled from the .po files in git (the .mo files are not committed).
MESSAGES := $(patsubst %.po,%.mo,$(wildcard notifications/locale/*/LC_MESSAGES/django.po))
messages: $(MESSAGES)
%.mo: %.po
	@command -v msgfmt >/dev/null || { echo "Installing gettext to compile the translations"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gettext >/dev/null; }
	msgfmt --check -o $@ $<

# Browser tests drive Debian's Chromium (never a downloaded browser); the proxy tests run Debian's nginx.
browser:
	@command -v chromium >/dev/null || { echo "Installing Debian's chromium for the browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }
	@command -v redis-server >/dev/null || { echo "Installing redis-server for the delivery tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; }
	@command -v nginx >/dev/null || test -x /usr/sbin/nginx || { echo "Installing nginx for the proxy tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light >/dev/null; }
	@command -v npm >/dev/null || { echo "Installing npm for the accessibility tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null; }
	@test -f $(AXE) || { echo "Installing axe-core $(AXE_VERSION) from npm for the accessibility tests"; \
	  npm install --silent --no-audit --no-fund --prefix var/npm axe-core@$(AXE_VERSION); }

test: $(BIN)/.installed lint browser messages
	DEBUG=0 SECRET_KEY=test-only-secret-key $(BIN)/python -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache build *.egg-info
