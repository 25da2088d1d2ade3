# pinbot: slim multi-stage image. Build: docker build -t pinbot .
# Run: docker run --env-file .env -p 3000:3000 -v pinbot-data:/data pinbot

FROM python:3.12-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/venv
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY handlers ./handlers
COPY pinbot ./pinbot
RUN /opt/venv/bin/pip install --no-compile . \
    && /opt/venv/bin/python -m compileall -q /opt/venv/lib

FROM python:3.12-slim
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PINBOT_HOST=0.0.0.0 \
    PINBOT_PORT=3000 \
    PINBOT_DATABASE_URL=sqlite+aiosqlite:////data/pinbot.db
RUN groupadd --system --gid 10001 pinbot \
    && useradd --system --uid 10001 --gid 10001 --home-dir /data --create-home pinbot
COPY --from=build /opt/venv /opt/venv
USER 10001:10001
WORKDIR /data
VOLUME ["/data"]
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PINBOT_PORT', '3000'), timeout=4)"]
CMD ["pinbot", "serve"]
