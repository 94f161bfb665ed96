# syntax=docker/dockerfile:1
# Vanguard: multi-stage build. Stage 1 builds wheels and the virtualenv; stage 2 is the slim runtime, as a non-root
# user, with the static files collected at build time and served by WhiteNoise.
#
#   docker build -t vanguard .
#   docker run --env-file .env -p 8000:8000 vanguard                       # web (gunicorn + uvicorn workers)
#   docker run --env-file .env vanguard celery -A vanguard worker -l INFO  # worker
#   docker run --env-file .env vanguard celery -A vanguard beat -l INFO    # beat (exactly one)
#   docker run --env-file .env vanguard python manage.py migrate           # migrations (before starting web)

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /app
RUN python -m venv /opt/venv
ENV PATH="/opt/venv/bin:$PATH"
# Dependencies first, so code changes do not invalidate this layer: exactly the runtime lock (scripts/lock writes
# it from pyproject.toml), every file checked against its hash. psycopg[binary] ships its own libpq.
COPY requirements/base.txt requirements/base.txt
RUN pip install --require-hashes -r requirements/base.txt
# The code runs from /app (manage.py's directory); only the dependencies live in the virtualenv.
COPY . .
# collectstatic needs no production secret: development settings with a throwaway key file that stays in this stage,
# and the production storage (hashed, compressed names plus the manifest WhiteNoise serves from).
RUN DJANGO_ENV=development STATIC_MANIFEST=true DEV_KEYS_FILE=/tmp/build-keys.json STATIC_ROOT=/app/staticfiles \
    python manage.py collectstatic --noinput \
    && rm -f /tmp/build-keys.json \
    && python -m compileall -q /app

FROM ${PYTHON_IMAGE} AS runtime
# postgresql-client: pg_dump/pg_restore for manage.py backup/restore (match its major version to the server's).
# The healthcheck uses Python, so the image needs no curl.
RUN apt-get update \
    && apt-get install -y --no-install-recommends postgresql-client \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 vanguard \
    && useradd --system --uid 10001 --gid vanguard --home-dir /app --shell /usr/sbin/nologin vanguard
ENV PATH="/opt/venv/bin:$PATH" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DJANGO_ENV=production \
    DJANGO_SETTINGS_MODULE=vanguard.settings \
    STATIC_ROOT=/app/staticfiles \
    MEDIA_ROOT=/data/media \
    BACKUP_DIR=/data/backups \
    PORT=8000
WORKDIR /app
COPY --from=build /opt/venv /opt/venv
COPY --from=build --chown=root:root /app /app
RUN mkdir -p /data/media /data/backups && chown -R vanguard:vanguard /data
USER vanguard
EXPOSE 8000
VOLUME ["/data"]
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f\"http://127.0.0.1:{os.environ.get('PORT', '8000')}/health\", timeout=4)"]
CMD ["gunicorn", "-c", "gunicorn.conf.py", "vanguard.asgi:application"]
