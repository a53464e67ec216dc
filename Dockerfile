# ticker in a container: a venv built in one stage and copied onto python:3.12-slim, run as a
# non-root user, state in a volume, healthy while /healthz answers 200. No Docker engine runs in
# this project's CI, so the image is not built there: tests/test_install.py checks this file, the
# configuration and the HEALTHCHECK command against a real endpoint. See README "In a container".
#   docker build -t ticker-news .
#   docker compose up -d          # compose.yaml: state volume, env file, port on 127.0.0.1 only

FROM python:3.12-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/ticker
COPY pyproject.toml README.md /src/
COPY ticker /src/ticker
RUN /opt/ticker/bin/pip install /src

FROM python:3.12-slim
# Same base as the build stage: the venv's python links to this image's /usr/local/bin/python3.
COPY --from=build /opt/ticker /opt/ticker
COPY config/container.toml /etc/ticker/ticker.toml
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/ticker --shell /usr/sbin/nologin ticker \
    && install -d -o ticker -g ticker -m 700 /var/lib/ticker
ENV PATH=/opt/ticker/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    STATE_DIRECTORY=/var/lib/ticker \
    TICKER_HEALTHZ_URL=http://127.0.0.1:8787/healthz
USER ticker
WORKDIR /var/lib/ticker
VOLUME /var/lib/ticker
EXPOSE 8787
# The endpoint listens beyond loopback inside the container, so it needs the token (TICKER_TOKEN
# from the env file); an answer other than 200 (503: a source broken or the scheduler stalled;
# 401: wrong token) or no answer marks the container unhealthy. Set TICKER_HEALTHZ_URL when the
# configuration listens on another port.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as u; t = os.environ.get('TICKER_TOKEN', ''); u.urlopen(u.Request(os.environ['TICKER_HEALTHZ_URL'], headers={'Authorization': 'Bearer ' + t}), timeout=4)"]
# ticker is PID 1: SIGTERM (docker stop) drains and exits 0, SIGHUP (docker kill -s HUP) reloads.
STOPSIGNAL SIGTERM
ENTRYPOINT ["ticker"]
CMD ["run", "-c", "/etc/ticker/ticker.toml", "--log-format", "json"]
