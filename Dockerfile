# Anpi as one image for every process: `serve` (default), `worker`, and the one-off commands
# (`migrate`, `richmenu sync`, `user add`, `backup`). The local LINE platform and the tests
# are not in it (see .dockerignore): the image talks to the real LINE only.

FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md LICENSE THIRD_PARTY_NOTICES.md ./
COPY bot bot
COPY console console
COPY domain domain
COPY liff liff
COPY me me
COPY models models
COPY web web
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PORT=8080 \
    LOG_FORMAT=json
RUN useradd --system --uid 10001 --user-group --home-dir /data --create-home anpi
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
# A SQLite database (the default DATABASE_URL) lands in /data: mount a volume there.
WORKDIR /data
USER anpi
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request; sys.exit(urllib.request.urlopen(f\"http://127.0.0.1:{os.environ.get('PORT', '8080')}/healthz\", timeout=4).status != 200)"]
CMD ["python", "-m", "bot", "serve"]
