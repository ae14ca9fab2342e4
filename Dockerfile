# vncd in a container: one desktop (a private Xvfb with a small session) on one port, 5900,
# for VNC viewers and browsers alike. See docs/deploy.md ("Container").
#
#   docker build -t vncd .
#   docker run -p 5900:5900 -e VNCD_PASSWORD=... vncd        # or mount a vncpasswd file:
#   docker run -p 5900:5900 -v ./vncd.passwd:/etc/vncd/secret/passwd:ro vncd

# --- build: the wheel, which carries the web client (setup.py runs `npm ci` in web/) ------
FROM debian:bookworm-slim AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv npm ca-certificates \
    && apt-get clean && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY protocol protocol
COPY vncd vncd
COPY web web
RUN python3 -m venv /opt/build \
    && /opt/build/bin/pip install --no-cache-dir build \
    && /opt/build/bin/python -m build --wheel --outdir /dist

# --- run: Python, Xvfb and the session's programs; vncd in a venv, as a user of its own ----
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        python3 python3-venv xvfb xfonts-base xterm openbox \
    && apt-get clean && rm -rf /var/lib/apt/lists/*
COPY --from=build /dist/ /tmp/dist/
RUN python3 -m venv /opt/vncd \
    && /opt/vncd/bin/pip install --no-cache-dir /tmp/dist/*.whl \
    && rm -rf /tmp/dist
# A numeric user, so that Kubernetes' runAsNonRoot can check it. /etc/vncd/secret is where
# the password file goes (written by the entrypoint from $VNCD_PASSWORD, or mounted).
RUN useradd --uid 10001 --user-group --create-home --shell /bin/bash vncd \
    && install -d -o vncd -g vncd -m 0700 /etc/vncd/secret
COPY deploy/docker/vncd.toml /etc/vncd/vncd.toml
COPY deploy/docker/vncd-session deploy/docker/vncd-entrypoint /usr/local/bin/
ENV PATH=/opt/vncd/bin:$PATH
USER 10001:10001
WORKDIR /home/vncd
EXPOSE 5900
# /healthz is served on the same port (plain HTTP, also when [tls] is set).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s \
    CMD ["python3", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:5900/healthz', timeout=4)"]
ENTRYPOINT ["vncd-entrypoint"]
CMD ["run", "/etc/vncd/vncd.toml"]
