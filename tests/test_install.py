"""The README's "Add it to your site", done by a stranger: the built wheel in a new virtualenv, a new site.

Nothing from the checkout is importable in that site: the package comes from
the wheel (its dependencies from the package index), the site from
``django-admin startproject``, and every line added to it from the README's
``<!-- install: ... -->`` blocks, so the install section cannot drift from
what works.
"""

from __future__ import annotations

import html
import http.cookiejar
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from websockets.sync.client import connect

from notifications.testing import DaphneServer, RedisServer, receive_frame
from tests import REPO_DIR

INSTALL_BLOCK = re.compile(r"<!-- install: (append [\w/.]+|template) -->\n```\w+\n(.*?)```", re.S)
SITE_LAYOUT_MARK = "mysite's own layout"
SITE_ADMIN_MARK = "mysite administration"

# The suite's user model without a username (the e-mail address signs in), copied in as the site's own app.
USER_APP = REPO_DIR / "tests" / "customuser"

SITE_BASE = f"""<!doctype html>
<html><head><title>{{% block title %}}{{% endblock %}} · mysite</title></head>
<body>
<header><p>{SITE_LAYOUT_MARK}</p><!-- bell --></header>
<main>{{% block content %}}{{% endblock %}}</main>
<!-- scripts -->
</body></html>
"""

SITE_ADMIN_BASE = f"""{{% extends "admin/base.html" %}}
{{% block branding %}}<h1 id="site-name">{SITE_ADMIN_MARK}</h1>{{% endblock %}}
"""


def readme_install_blocks() -> list[tuple[str, str]]:
    blocks = INSTALL_BLOCK.findall((REPO_DIR / "README.md").read_text())
    assert [where for where, _ in blocks] == [
        "append mysite/settings.py",
        "append mysite/urls.py",
        "append mysite/asgi.py",
        "template",
    ], blocks
    return blocks


def run(*args: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    done = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{args} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtualenv holding the wheel built from this checkout (and its dependencies), nothing else of ours."""
    work = tmp_path_factory.mktemp("install")
    source = _mkdir(work / "source")  # a copy, so building leaves nothing in the checkout
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(REPO_DIR / name, source / name)
    for package in ("notifications", "presence"):
        shutil.copytree(REPO_DIR / package, source / package, ignore=shutil.ignore_patterns("__pycache__"))
    run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", work / "dist", source)
    wheels = list((work / "dist").glob("django_live_notifications-*.whl"))
    assert len(wheels) == 1, wheels
    venv = work / "venv"
    run(sys.executable, "-m", "venv", venv)
    run(venv / "bin" / "python", "-m", "pip", "install", "--quiet", "--disable-pip-version-check", wheels[0])
    return venv


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True)
    return path


def new_site(venv: Path, directory: Path, env: dict[str, str]) -> Path:
    """``django-admin startproject mysite`` with a custom user app and its own layouts, then the README's lines."""
    no_site_yet = {k: v for k, v in env.items() if k != "DJANGO_SETTINGS_MODULE"}
    run(venv / "bin" / "django-admin", "startproject", "mysite", _mkdir(directory), env=no_site_yet)
    shutil.copytree(USER_APP, directory / "customuser", ignore=shutil.ignore_patterns("__pycache__", "settings.py"))
    (_mkdir(directory / "templates" / "admin") / "base_site.html").write_text(SITE_ADMIN_BASE)
    settings = directory / "mysite" / "settings.py"
    settings.write_text(
        settings.read_text()
        + textwrap.dedent("""
            # The site's own choices, before adding the notifications app.
            INSTALLED_APPS += ["customuser"]
            AUTH_USER_MODEL = "customuser.Member"
            TEMPLATES[0]["DIRS"] = [BASE_DIR / "templates"]
            """)
    )
    layout = SITE_BASE
    for where, code in readme_install_blocks():
        if where == "template":
            load, bell, scripts = code.strip().splitlines()  # the README's three lines, each where it belongs
            layout = f"{load}\n{layout.replace('<!-- bell -->', bell).replace('<!-- scripts -->', scripts)}"
        else:
            target = directory / where.removeprefix("append ")
            target.write_text(f"{target.read_text()}\n{code}")
    (directory / "templates" / "base.html").write_text(layout)
    return directory


def site_env(venv: Path, redis: RedisServer) -> dict[str, str]:
    """The environment of the new site's processes: its own settings, our Redis, and no path into this checkout."""
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "DATABASE_URL", "REDIS_URL"}}
    return {
        **env,
        "DJANGO_SETTINGS_MODULE": "mysite.settings",
        "REDIS_URL": redis.url,
        "PATH": f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
        "VIRTUAL_ENV": str(venv),
    }


class Browser:
    """Just enough of a browser: cookies, and the CSRF token the admin's login form carries."""

    def __init__(self, server: DaphneServer) -> None:
        self.server = server
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies))

    def get(self, path: str) -> tuple[int, str]:
        with self.opener.open(f"{self.server.origin}{path}", timeout=30) as response:
            return response.status, response.read().decode()

    def log_in(self, email: str, password: str) -> None:
        _, form = self.get("/admin/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form).group(1)
        fields = {"csrfmiddlewaretoken": token, "username": email, "password": password, "next": "/admin/"}
        request = urllib.request.Request(
            f"{self.server.origin}/admin/login/",
            data=urllib.parse.urlencode(fields).encode(),
            headers={"Referer": f"{self.server.origin}/admin/login/"},
        )
        with self.opener.open(request, timeout=30) as response:
            assert response.url.endswith("/admin/"), f"login failed: {response.url}"

    def cookie_header(self) -> str:
        return "; ".join(f"{cookie.name}={cookie.value}" for cookie in self.cookies)


def test_the_readme_install_section_works_in_a_new_site_from_the_wheel(installed: Path, tmp_path: Path) -> None:
    venv = installed
    python = venv / "bin" / "python"
    redis = RedisServer.private()
    env = site_env(venv, redis)
    site = new_site(venv, tmp_path / "site", env)
    try:
        # The package is the wheel's, not this checkout's.
        where = run(python, "-c", "import notifications; print(notifications.__file__)", cwd=site, env=env)
        assert where.startswith(str(venv)), where
        run(python, "manage.py", "migrate", "--no-input", cwd=site, env=env)
        run(python, "manage.py", "check", "--fail-level", "WARNING", cwd=site, env=env)
        create = "from django.contrib.auth import get_user_model as m; m().objects.create_superuser('ada@x.org', 'pw')"
        run(python, "manage.py", "shell", "-c", create, cwd=site, env=env)

        server = DaphneServer.start(env, application="mysite.asgi:application", directory=site, python=str(python))
        try:
            browser = Browser(server)
            browser.log_in("ada@x.org", "pw")

            status, inbox = browser.get("/notifications/")
            assert status == 200
            assert SITE_LAYOUT_MARK in inbox, inbox  # the app's page inside the site's layout
            assert "data-notifications-bell" in inbox
            assert "data-notifications-inbox" in inbox
            config = json.loads(html.unescape(re.search(r'id="notifications-config"[^>]*>(.*?)</script>', inbox)[1]))

            status, composer = browser.get("/admin/live_notifications/notification/add/")
            assert status == 200
            assert SITE_ADMIN_MARK in composer, composer

            # The socket the page would open, with the session the login gave.
            url = f"ws://127.0.0.1:{server.port}{config['path']}"
            headers = {"Cookie": browser.cookie_header()}
            with connect(url, additional_headers=headers, origin=server.origin, open_timeout=10) as ws:
                receive_frame(ws, "hello")
                send = (
                    "from django.contrib.auth import get_user_model as m; from notifications import notify; "
                    "notify(m().objects.get(email='ada@x.org'), title='Hello from mysite')"
                )
                sent = server.manage("shell", "-c", send)
                assert sent.returncode == 0, sent.stderr
                assert receive_frame(ws, "notification")["notification"]["title"] == "Hello from mysite"
        finally:
            server.stop()
    finally:
        redis.close()
