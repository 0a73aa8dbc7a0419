# One image for the demo bank's services, its traffic generator and critpath itself
# (docker-compose.yml picks the command). Build: docker build -t critpath:local .
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies first, so editing the code does not reinstall them.
COPY pyproject.toml README.md ./
RUN python -c "import tomllib; print('\\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt

COPY critpath ./critpath
COPY analyzer ./analyzer
COPY collector ./collector
COPY tui ./tui
COPY instrumented_bank ./instrumented_bank
COPY setup.py ./
# gcc only while building the compiled OTLP decoder, then gone from the image.
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev \
    && pip install --no-deps . \
    && apt-get purge -y gcc libc6-dev && apt-get autoremove -y && rm -rf /var/lib/apt/lists/*

# Not root. The data directories belong to this user; a new named volume mounted there
# takes their ownership, so the services can write their SQLite files.
RUN useradd --system --create-home --uid 10001 critpath \
    && mkdir -p /data /var/lib/critpath \
    && chown critpath:critpath /data /var/lib/critpath
USER critpath

EXPOSE 8686 4317 4318 9000-9014
CMD ["critpath", "--help"]
