"""Settings of the test app: no database, no sessions, no templates, no static files; only URL routing."""

SECRET_KEY = "memsight-test-app-not-secret"
DEBUG = False  # DEBUG=True would keep every request's SQL and more in memory: not the app under test
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
ROOT_URLCONF = "memapp.urls"
WSGI_APPLICATION = "memapp.wsgi.application"
INSTALLED_APPS = []
MIDDLEWARE = []
DATABASES = {}
USE_TZ = True
LOGGING_CONFIG = None  # no logging set-up: gunicorn's own logs go to the launcher's stderr
