# The gateway as a container, for a Kubernetes sidecar (see helm/) or on its own.
#   docker build -t notification-gateway .
#   docker run -p 8080:8080 notification-gateway
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    GATEWAY_DATA_DIR=/data

WORKDIR /app
COPY pyproject.toml README.md ./
COPY gateway gateway
COPY simulator simulator
RUN pip install .

COPY gateway.yaml ./
COPY policies policies
RUN useradd --system --uid 10001 gateway \
    && mkdir /data && chown gateway /data
USER 10001
VOLUME ["/data"]

EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=2s \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2)"

# SIGTERM drains in-flight requests for server.shutdown_timeout_ms, then exits.
STOPSIGNAL SIGTERM
ENTRYPOINT ["gateway"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8080", "--config", "/app/gateway.yaml"]
