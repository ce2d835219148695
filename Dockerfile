# syntax=docker/dockerfile:1
# Two images from one file (BuildKit, the default builder since Docker 23):
#   runtime (the default, last stage): the app with its runtime requirements and collected static files.
#   dev: runtime plus requirements-dev.txt and the fake Blink, for compose's `dev` profile. .dockerignore
#   keeps fakeblink/ out of the main context, so it comes from a named context of its own:
#     docker build --target dev --build-context fakeblink=./fakeblink .
#   (compose passes it as `additional_contexts`). A plain `docker build .` never builds this stage.

FROM python:3.11-slim AS app
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    DJANGO_SETTINGS_MODULE=blinkpos.settings.production
WORKDIR /app
RUN useradd --create-home blinkpos
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY --chown=blinkpos . .
# Hashed, compressed static files for WhiteNoise, collected with the production settings. Those refuse to
# boot without their secrets, so this step gets throwaway values that exist only for this command (and
# nothing here connects to a database or Redis); the real ones come from the environment at run time.
RUN SECRET_KEY=collectstatic-build-only-not-a-secret-0123456789abcdef \
    FIELD_ENCRYPTION_KEYS=YnVpbGQtb25seS1ub3QtYS1zZWNyZXQtMzItYnl0ZXM= \
    DATABASE_URL=postgres://build@127.0.0.1:1/build \
    REDIS_URL=redis://127.0.0.1:1/0 \
    ALLOWED_HOSTS=build.invalid \
    python manage.py collectstatic --noinput --verbosity 0 \
    && chown -R blinkpos staticfiles
USER blinkpos
EXPOSE 8000
# The web tier is ASGI (uvicorn worker processes): an open status stream (Server-Sent Events) holds no
# thread. blinkpos.webserver raises the open-file limit first (one socket per open stream).
CMD ["python", "-m", "blinkpos.webserver", "blinkpos.asgi:application", "--host", "0.0.0.0", "--port", "8000", \
     "--workers", "3", "--lifespan", "off", "--no-access-log", "--timeout-graceful-shutdown", "5"]

FROM app AS dev
USER root
COPY requirements-dev.txt .
RUN pip install --no-cache-dir -r requirements-dev.txt
COPY --from=fakeblink --chown=blinkpos . fakeblink/
USER blinkpos

FROM app AS runtime
