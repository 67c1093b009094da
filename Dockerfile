# The inferwatch worker image (see docker-compose.yml): `docker build -t inferwatch .`, `docker run inferwatch worker`.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY streams ./streams
COPY detectors ./detectors
COPY alerting ./alerting
# the shipped runbooks install as package data (inferwatch.runbooks); alerting.runbooks_dir points at your own
COPY runbooks ./runbooks
RUN pip install --no-cache-dir . && useradd --system --home-dir /app inferwatch && chown inferwatch /app
USER inferwatch

ENTRYPOINT ["inferwatch"]
CMD ["worker"]
